package io.github.cdcods.ksqldb;

import java.nio.charset.StandardCharsets;

/** Python's str rules that differ from Java's: what str.strip() strips, str.isdigit(), and
 * str.encode() refusing lone surrogates. Strings are handled as code points, as Python does. */
final class PyText {
  private PyText() {}

  /** str.isspace() for one code point (a fixed set in every Unicode version since 6.3). */
  static boolean isSpace(int cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0
        || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029
        || cp == 0x202F || cp == 0x205F || cp == 0x3000;
  }

  /** str.strip() with no argument. */
  static String strip(String text) {
    int start = 0;
    int end = text.length();
    while (start < end && isSpace(text.codePointAt(start))) {
      start += Character.charCount(text.codePointAt(start));
    }
    while (end > start && isSpace(text.codePointBefore(end))) {
      end -= Character.charCount(text.codePointBefore(end));
    }
    return text.substring(start, end);
  }

  // Python 3.11's Unicode 14 tables, written out so that the JVM's own (older) Unicode
  // version does not matter. Decimal digits (Nd, what int() reads): blocks of ten, 0..9, from
  // these code points.
  private static final int[] DECIMAL_ZEROS = {
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0,
    0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0,
    0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE,
    0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
  };
  // The other digits (Numeric_Type=Digit: superscripts, circled digits, ...) as inclusive ranges.
  private static final int[] OTHER_DIGIT_RANGES = {
    0xB2, 0xB3, 0xB9, 0xB9, 0x1369, 0x1371, 0x19DA, 0x19DA, 0x2070, 0x2070, 0x2074, 0x2079,
    0x2080, 0x2089, 0x2460, 0x2468, 0x2474, 0x247C, 0x2488, 0x2490, 0x24EA, 0x24EA, 0x24F5, 0x24FD,
    0x24FF, 0x24FF, 0x2776, 0x277E, 0x2780, 0x2788, 0x278A, 0x2792, 0x10A40, 0x10A43, 0x10E60, 0x10E68,
    0x11052, 0x1105A, 0x1F100, 0x1F10A,
  };

  /** The value of a decimal digit (str.isdecimal(), what int() accepts), or -1. */
  static int decimalValue(int cp) {
    for (int zero : DECIMAL_ZEROS) {
      if (cp >= zero && cp < zero + 10) {
        return cp - zero;
      }
    }
    return -1;
  }

  /** str.isdigit() for one code point. */
  static boolean isDigit(int cp) {
    if (decimalValue(cp) >= 0) {
      return true;
    }
    for (int i = 0; i < OTHER_DIGIT_RANGES.length; i += 2) {
      if (cp >= OTHER_DIGIT_RANGES[i] && cp <= OTHER_DIGIT_RANGES[i + 1]) {
        return true;
      }
    }
    return false;
  }

  /** str.encode('utf-8'): Python refuses a lone surrogate (UnicodeEncodeError, a ValueError). */
  static byte[] utf8(String text) {
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        throw new IllegalArgumentException("surrogates not allowed");
      }
      i += Character.charCount(cp);
    }
    return text.getBytes(StandardCharsets.UTF_8);
  }

  static boolean hasLoneSurrogate(String text) {
    try {
      utf8(text);
      return false;
    } catch (IllegalArgumentException e) {
      return true;
    }
  }
}
