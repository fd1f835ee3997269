package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;
import java.text.Normalizer;

/** The text in Unicode normalization form C (Python: unicodedata.normalize('NFC', s)). */
@UdfDescription(name = "CDC_NFC", author = "cdc-ods", description = CdcNfc.DESCRIPTION)
public final class CdcNfc {
  static final String DESCRIPTION = "The text in Unicode normalization form C (Python: unicodedata.normalize('NFC', s)).";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "a string") final String value) {
    return value == null ? null : Normalizer.normalize(value, Normalizer.Form.NFC);
  }
}
