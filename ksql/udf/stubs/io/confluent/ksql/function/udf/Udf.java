/*
 * Compile-time stand-in for ksqlDB's own annotation (artifact io.confluent.ksql:ksqldb-udf, which
 * is published only on Confluent's repository). Same fully-qualified name, attributes and
 * retention; never packaged: the ksqlDB server provides the real class at run time.
 */
package io.confluent.ksql.function.udf;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Udf {
  String description() default "";

  String schema() default "";

  String schemaProvider() default "";
}
