package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;
import java.math.BigInteger;
import java.util.Map;

/**
 * A BSON date in MongoDB extended JSON (relaxed {"$date": "ISO"}, canonical
 * {"$date": {"$numberLong": "ms"}}, or {"$date": ms}) as ISO-8601 UTC text with microseconds
 * and Z; NULL when it is none of these.
 */
@UdfDescription(name = "CDC_BSON_TS", author = "cdc-ods", description = CdcBsonTs.DESCRIPTION)
public final class CdcBsonTs {
  static final String DESCRIPTION = "A BSON date in MongoDB extended JSON as ISO-8601 UTC text with microseconds and Z.";

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "extended JSON text") final String value) {
    if (value == null) {
      return null;
    }
    Object node = PyJson.parseOrNull(value);
    if (node instanceof Map) {
      node = ((Map<?, ?>) node).get("$date");
    }
    if (node instanceof Map) {
      node = ((Map<?, ?>) node).get("$numberLong");
    }
    if (node instanceof String && isSignedDigits((String) node)) {
      node = parseInt((String) node);
    }
    if (node instanceof Long || node instanceof BigInteger) {
      BigInteger millis = node instanceof Long ? BigInteger.valueOf((Long) node) : (BigInteger) node;
      if (millis.bitLength() > 63) {
        throw new ArithmeticException("date value out of range");
      }
      return PyTime.isoUtc(Math.multiplyExact(millis.longValue(), 1000L));
    }
    return node instanceof String ? PyTime.tsIso((String) node) : null;
  }

  /** Python's `text.lstrip("-").isdigit()`. */
  private static boolean isSignedDigits(String text) {
    int start = 0;
    while (start < text.length() && text.charAt(start) == '-') {
      start++;
    }
    String digits = text.substring(start);
    return !digits.isEmpty() && digits.codePoints().allMatch(PyText::isDigit);
  }

  /** Python's int(text): one optional '-' and Unicode decimal digits; ValueError otherwise. */
  private static BigInteger parseInt(String text) {
    boolean negative = text.startsWith("-");
    StringBuilder ascii = new StringBuilder(negative ? "-" : "");
    text.substring(negative ? 1 : 0).codePoints().forEach(cp -> {
      int digit = PyText.decimalValue(cp);
      if (digit < 0) {
        throw new NumberFormatException("invalid literal for int() with base 10: " + text);
      }
      ascii.append(digit);
    });
    return new BigInteger(ascii.toString());
  }
}
