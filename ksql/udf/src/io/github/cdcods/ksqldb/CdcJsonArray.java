package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;
import java.util.ArrayList;
import java.util.List;

/** A JSON array text as ARRAY<STRING>: strings as they are, JSON null as NULL, anything else
 * as its compact JSON text (as EXTRACTJSONFIELD renders it); NULL when it is not an array. */
@UdfDescription(name = "CDC_JSON_ARRAY", author = "cdc-ods", description = CdcJsonArray.DESCRIPTION)
public final class CdcJsonArray {
  static final String DESCRIPTION = "A JSON array text as ARRAY<STRING> (non-strings as JSON text); NULL if not an array.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public List<String> apply(@UdfParameter(value = "value", description = "JSON text") final String value) {
    if (value == null) {
      return null;
    }
    Object node = PyJson.parseOrNull(value);
    if (!(node instanceof List)) {
      return null;
    }
    List<String> result = new ArrayList<>();
    for (Object item : (List<?>) node) {
      result.add(item == PyJson.Null.NULL ? null : item instanceof String ? (String) item : PyJson.dump(item));
    }
    return result;
  }
}
