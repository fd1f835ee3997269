package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;

/** Milliseconds since the epoch as ISO-8601 UTC text with microseconds and Z. */
@UdfDescription(name = "CDC_TS_MILLIS", author = "cdc-ods", description = CdcTsMillis.DESCRIPTION)
public final class CdcTsMillis {
  static final String DESCRIPTION = "Milliseconds since the epoch as ISO-8601 UTC text with microseconds and Z.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "milliseconds since 1970-01-01 UTC") final Long value) {
    return value == null ? null : PyTime.isoUtc(Math.multiplyExact(value, 1000L));
  }
}
