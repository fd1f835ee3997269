package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;
import java.math.BigInteger;
import java.util.Base64;

/** Debezium's Bits (a MySQL-family BIT(n): base64 of the bytes, least significant first) as the number's decimal text. */
@UdfDescription(name = "CDC_BITS", author = "cdc-ods", description = CdcBits.DESCRIPTION)
public final class CdcBits {
  static final String DESCRIPTION =
      "Debezium's Bits (base64 of the bytes, least significant first) as the number's decimal text.";

  /** NULL in, NULL out; text that is not base64 throws, as the embedded runner's function raises. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "base64 bytes, little-endian") final String value) {
    if (value == null) {
      return null;
    }
    final byte[] littleEndian = Base64.getDecoder().decode(value);
    final byte[] bigEndian = new byte[littleEndian.length];
    for (int i = 0; i < littleEndian.length; i++) {
      bigEndian[i] = littleEndian[littleEndian.length - 1 - i];
    }
    return new BigInteger(1, bigEndian).toString();
  }
}
