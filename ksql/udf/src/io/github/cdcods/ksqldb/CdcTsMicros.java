package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;

/** Microseconds since the epoch as ISO-8601 UTC text with microseconds and Z. */
@UdfDescription(name = "CDC_TS_MICROS", author = "cdc-ods", description = CdcTsMicros.DESCRIPTION)
public final class CdcTsMicros {
  static final String DESCRIPTION = "Microseconds since the epoch as ISO-8601 UTC text with microseconds and Z.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "microseconds since 1970-01-01 UTC") final Long value) {
    return value == null ? null : PyTime.isoUtc(value);
  }
}
