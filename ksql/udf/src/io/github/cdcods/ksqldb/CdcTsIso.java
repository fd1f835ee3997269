package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;

/** An ISO-8601 timestamp (any offset and fraction) as UTC text with microseconds and Z; NULL if it is not one. */
@UdfDescription(name = "CDC_TS_ISO", author = "cdc-ods", description = CdcTsIso.DESCRIPTION)
public final class CdcTsIso {
  static final String DESCRIPTION = "An ISO-8601 timestamp (any offset and fraction) as UTC text with microseconds and Z; NULL if it is not one.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "ISO-8601 text") final String value) {
    return value == null ? null : PyTime.tsIso(value);
  }
}
