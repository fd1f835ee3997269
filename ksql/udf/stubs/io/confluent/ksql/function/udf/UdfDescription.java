/* Compile-time stand-in for ksqlDB's annotation; see Udf.java. Never packaged. */
package io.confluent.ksql.function.udf;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface UdfDescription {
  String name();

  String description();

  String category() default "OTHER";

  String author() default "";

  String version() default "";
}
