package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import io.confluent.ksql.function.udf.UdfParameter;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.kafka.common.Configurable;
import org.apache.kafka.common.config.ConfigException;

/**
 * HMAC-SHA256 (lower-case hex) of the text's UTF-8 bytes: personal data masked so that equal
 * values still join. The key is the server's `ksql.functions.cdc_hmac.key`, handed over by
 * ksqlDB through {@link Configurable} when a query using the function starts (the same value
 * as the embedded runner's CDC_PII_HASH_KEY); without it the query fails to start rather
 * than mask with no key.
 */
@UdfDescription(name = "CDC_HMAC", author = "cdc-ods", description = CdcHmac.DESCRIPTION)
public final class CdcHmac implements Configurable {
  static final String DESCRIPTION = "HMAC-SHA256 (hex) of the text under the server's ksql.functions.cdc_hmac.key.";
  public static final String KEY_CONFIG = "ksql.functions.cdc_hmac.key";

  private SecretKeySpec key;

  @Override
  public void configure(final Map<String, ?> configs) {
    Object value = configs.get(KEY_CONFIG);
    if (value == null || value.toString().isEmpty()) {
      throw new ConfigException(KEY_CONFIG + " is not set: CDC_HMAC needs the key for masking personal data");
    }
    key = new SecretKeySpec(value.toString().getBytes(StandardCharsets.UTF_8), "HmacSHA256");
  }

  /** NULL in, NULL out. */
  @Udf(description = DESCRIPTION)
  public String apply(@UdfParameter(value = "value", description = "the personal datum") final String value) {
    if (value == null) {
      return null;
    }
    if (key == null) {
      throw new IllegalStateException(KEY_CONFIG + " was never configured");
    }
    byte[] digest;
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      digest = mac.doFinal(PyText.utf8(value));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
    StringBuilder hex = new StringBuilder(digest.length * 2);
    for (byte b : digest) {
      hex.append(Character.forDigit((b >> 4) & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
    }
    return hex.toString();
  }
}
