package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;

/** Microseconds (since midnight, or since the epoch: the time of day) as HH:MM:SS.ffffff. */
@UdfDescription(name = "CDC_TIME_MICROS", author = "cdc-ods", description = CdcTimeMicros.DESCRIPTION)
public final class CdcTimeMicros {
  static final String DESCRIPTION = "Microseconds (since midnight, or since the epoch: the time of day) as HH:MM:SS.ffffff.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "microseconds") final Long value) {
    return value == null ? null : PyTime.timeOfDay(value);
  }
}
