package io.github.cdcods.ksqldb;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON as orjson (the embedded runner's library) reads and writes it: strict RFC 8259 input
 * (no BOM, NaN, comments or trailing commas; at most 1024 levels), integers as long or, past
 * int64 up to uint64, BigInteger, beyond that a double; objects keep their first key order
 * with the last duplicate's value. Output is compact, escapes only '"', '\\' and control
 * characters, and writes a double as its shortest round-trip digits, in positional notation
 * for exponents -5..15 and as d.ddde+X otherwise.
 */
final class PyJson {
  private PyJson() {}

  /** orjson.JSONDecodeError (a ValueError). */
  static final class DecodeError extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    DecodeError(String message) {
      super(message);
    }
  }

  private static final int MAX_READ_DEPTH = 1024;
  private static final int MAX_WRITE_DEPTH = 254;
  private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

  static Object parse(String text) {
    if (PyText.hasLoneSurrogate(text)) {
      throw new DecodeError("str is not valid UTF-8: surrogates not allowed");
    }
    Reader reader = new Reader(text);
    reader.skipSpace();
    Object value = reader.value(0);
    reader.skipSpace();
    if (reader.pos != text.length()) {
      throw new DecodeError("trailing characters");
    }
    return value;
  }

  /** JSON text of the value, or null when it is not JSON (orjson.loads raises). */
  static Object parseOrNull(String text) {
    try {
      return parse(text);
    } catch (DecodeError e) {
      return null;
    }
  }

  private static final class Reader {
    final String text;
    int pos;

    Reader(String text) {
      this.text = text;
    }

    DecodeError error(String what) {
      return new DecodeError(what + " at " + pos);
    }

    int peek() {
      return pos < text.length() ? text.charAt(pos) : -1;
    }

    void skipSpace() {
      while (pos < text.length()) {
        char c = text.charAt(pos);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
          return;
        }
        pos++;
      }
    }

    boolean literal(String word) {
      if (text.startsWith(word, pos)) {
        pos += word.length();
        return true;
      }
      return false;
    }

    Object value(int depth) {
      int c = peek();
      if (c == '{' || c == '[') {
        if (depth + 1 > MAX_READ_DEPTH) {
          throw error("depth limit exceeded");
        }
        return c == '{' ? object(depth + 1) : array(depth + 1);
      }
      if (c == '"') {
        return string();
      }
      if (c == '-' || (c >= '0' && c <= '9')) {
        return number();
      }
      if (literal("true")) {
        return Boolean.TRUE;
      }
      if (literal("false")) {
        return Boolean.FALSE;
      }
      if (literal("null")) {
        return Null.NULL;
      }
      throw error("unexpected character");
    }

    Map<String, Object> object(int depth) {
      pos++;
      Map<String, Object> result = new LinkedHashMap<>();
      skipSpace();
      if (peek() == '}') {
        pos++;
        return result;
      }
      while (true) {
        skipSpace();
        if (peek() != '"') {
          throw error("expected a key");
        }
        String key = string();
        skipSpace();
        if (peek() != ':') {
          throw error("expected ':'");
        }
        pos++;
        skipSpace();
        result.put(key, value(depth));
        skipSpace();
        int c = peek();
        pos++;
        if (c == '}') {
          return result;
        }
        if (c != ',') {
          throw error("expected ',' or '}'");
        }
      }
    }

    List<Object> array(int depth) {
      pos++;
      List<Object> result = new ArrayList<>();
      skipSpace();
      if (peek() == ']') {
        pos++;
        return result;
      }
      while (true) {
        skipSpace();
        result.add(value(depth));
        skipSpace();
        int c = peek();
        pos++;
        if (c == ']') {
          return result;
        }
        if (c != ',') {
          throw error("expected ',' or ']'");
        }
      }
    }

    String string() {
      pos++;
      StringBuilder out = new StringBuilder();
      while (true) {
        if (pos >= text.length()) {
          throw error("unterminated string");
        }
        char c = text.charAt(pos++);
        if (c == '"') {
          return out.toString();
        }
        if (c < 0x20) {
          throw error("unexpected control character in string");
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        int e = peek();
        pos++;
        switch (e) {
          case '"': out.append('"'); break;
          case '\\': out.append('\\'); break;
          case '/': out.append('/'); break;
          case 'b': out.append('\b'); break;
          case 'f': out.append('\f'); break;
          case 'n': out.append('\n'); break;
          case 'r': out.append('\r'); break;
          case 't': out.append('\t'); break;
          case 'u': {
            char unit = hex4();
            if (Character.isLowSurrogate(unit)) {
              throw error("invalid high surrogate in string");
            }
            if (Character.isHighSurrogate(unit)) {
              if (!text.startsWith("\\u", pos)) {
                throw error("no low surrogate in string");
              }
              pos += 2;
              char low = hex4();
              if (!Character.isLowSurrogate(low)) {
                throw error("invalid low surrogate in string");
              }
              out.append(unit).append(low);
            } else {
              out.append(unit);
            }
            break;
          }
          default:
            throw error("invalid escaped character in string");
        }
      }
    }

    char hex4() {
      if (pos + 4 > text.length()) {
        throw error("invalid escaped sequence in string");
      }
      int value = 0;
      for (int i = 0; i < 4; i++) {
        int digit = Character.digit(text.charAt(pos + i), 16);
        if (digit < 0 || text.charAt(pos + i) > 'f') {
          throw error("invalid escaped sequence in string");
        }
        value = value * 16 + digit;
      }
      pos += 4;
      return (char) value;
    }

    Object number() {
      int start = pos;
      if (peek() == '-') {
        pos++;
      }
      if (peek() == '0') {
        pos++;
        if (isDigit(peek())) {
          throw error("number with leading zero is not allowed");
        }
      } else if (isDigit(peek())) {
        while (isDigit(peek())) {
          pos++;
        }
      } else {
        throw error("no digit after sign");
      }
      boolean integral = true;
      if (peek() == '.') {
        integral = false;
        pos++;
        if (!isDigit(peek())) {
          throw error("no digit after decimal point");
        }
        while (isDigit(peek())) {
          pos++;
        }
      }
      if (peek() == 'e' || peek() == 'E') {
        integral = false;
        pos++;
        if (peek() == '+' || peek() == '-') {
          pos++;
        }
        if (!isDigit(peek())) {
          throw error("no digit after exponent sign");
        }
        while (isDigit(peek())) {
          pos++;
        }
      }
      String literal = text.substring(start, pos);
      if (integral) {
        BigInteger value = new BigInteger(literal);
        if (value.bitLength() < 64) {
          return value.longValue();
        }
        if (value.signum() > 0 && value.compareTo(UINT64_MAX) <= 0) {
          return value;
        }
      }
      double value = new BigDecimal(literal).doubleValue();
      if (Double.isInfinite(value)) {
        throw error("number is infinity when parsed as double");
      }
      if (value == 0 && literal.startsWith("-")) {
        return -0.0;
      }
      return value;
    }

    private static boolean isDigit(int c) {
      return c >= '0' && c <= '9';
    }
  }

  /** JSON null inside a parsed value (a Java null means "not parsed" to callers). */
  enum Null {
    NULL
  }

  /** orjson.dumps(value) as text; throws where orjson raises JSONEncodeError (a TypeError). */
  static String dump(Object value) {
    StringBuilder out = new StringBuilder();
    write(value, out, 0);
    return out.toString();
  }

  private static void write(Object value, StringBuilder out, int depth) {
    if (value == Null.NULL) {
      out.append("null");
    } else if (value instanceof Boolean || value instanceof Long || value instanceof BigInteger) {
      out.append(value);
    } else if (value instanceof Double) {
      out.append(formatDouble((Double) value));
    } else if (value instanceof String) {
      quote((String) value, out);
    } else if (value instanceof List) {
      enter(depth);
      out.append('[');
      boolean first = true;
      for (Object item : (List<?>) value) {
        out.append(first ? "" : ",");
        first = false;
        write(item, out, depth + 1);
      }
      out.append(']');
    } else if (value instanceof Map) {
      enter(depth);
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        out.append(first ? "" : ",");
        first = false;
        quote((String) entry.getKey(), out);
        out.append(':');
        write(entry.getValue(), out, depth + 1);
      }
      out.append('}');
    } else {
      throw new IllegalArgumentException("Type is not JSON serializable: " + value.getClass());
    }
  }

  private static void enter(int depth) {
    if (depth >= MAX_WRITE_DEPTH) {
      throw new IllegalArgumentException("Recursion limit reached");
    }
  }

  private static void quote(String text, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default:
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  /** The shortest digits that read back as the same double, placed as orjson places them. */
  static String formatDouble(double value) {
    if (value == 0) {
      return (1 / value < 0) ? "-0.0" : "0.0";
    }
    // the fewest significant digits that read back as the value; at that length, the
    // candidate closest to the exact binary value (the nearest rounding alone misses some
    // powers of two, whose rounding interval is lopsided)
    BigDecimal exact = new BigDecimal(value).abs();
    BigDecimal shortest = exact;
    for (int precision = 1; precision <= 17 && shortest == exact; precision++) {
      for (RoundingMode mode : new RoundingMode[] {RoundingMode.HALF_EVEN, RoundingMode.FLOOR, RoundingMode.CEILING}) {
        BigDecimal candidate = exact.round(new MathContext(precision, mode));
        boolean closer = shortest == exact
            || candidate.subtract(exact).abs().compareTo(shortest.subtract(exact).abs()) < 0;
        if (candidate.doubleValue() == Math.abs(value) && closer) {
          shortest = candidate;
        }
      }
    }
    String digits = shortest.unscaledValue().abs().toString().replaceAll("0+$", "");
    if (digits.isEmpty()) {
      digits = "0";
    }
    // value = 0.<digits> * 10^point ; scientific exponent = point - 1
    int point = shortest.precision() - shortest.scale();
    int exponent = point - 1;
    StringBuilder out = new StringBuilder(value < 0 ? "-" : "");
    if (exponent >= -5 && exponent < 16) {
      if (point <= 0) {
        out.append("0.");
        for (int i = 0; i < -point; i++) {
          out.append('0');
        }
        out.append(digits);
      } else if (point >= digits.length()) {
        out.append(digits);
        for (int i = digits.length(); i < point; i++) {
          out.append('0');
        }
        out.append(".0");
      } else {
        out.append(digits, 0, point).append('.').append(digits.substring(point));
      }
    } else {
      out.append(digits.charAt(0));
      if (digits.length() > 1) {
        out.append('.').append(digits.substring(1));
      }
      out.append('e').append(exponent >= 0 ? "+" : "").append(exponent);
    }
    return out.toString();
  }
}
