package io.github.cdcods.ksqldb;

import java.nio.charset.StandardCharsets;
import java.time.LocalDate;

/**
 * CPython 3.11's datetime.fromisoformat (Modules/_datetimemodule.c), step by step: it scans
 * the string's UTF-8 bytes, with quirks a java.time parser would not reproduce (any single
 * character as the date/time separator, ISO week dates, digits past microseconds dropped,
 * "+00:00:00.5" read as UTC, ...). Returns microseconds since the epoch in UTC, null where
 * Python raises ValueError, and throws ArithmeticException where converting to UTC leaves
 * years 1..9999 (Python's OverflowError).
 */
final class IsoFormat {
  private IsoFormat() {}

  private static final int[] DAYS_IN_MONTH = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  private static final int[] DAYS_BEFORE_MONTH = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  private static final int[] CORRECTION = {100000, 10000, 1000, 100, 10};

  /** The UTF-8 bytes and C's NUL terminator (reads past the end see 0, as C sees the NUL). */
  private static final class Bytes {
    final byte[] data;

    Bytes(byte[] data) {
      this.data = data;
    }

    int at(int i) {
      return i >= 0 && i < data.length ? data[i] & 0xFF : 0;
    }

    /** parse_digits: -1 unless `count` ASCII digits start at `pos`. */
    int digits(int pos, int count) {
      int value = 0;
      for (int i = 0; i < count; i++) {
        int digit = at(pos + i) - '0';
        if (digit < 0 || digit > 9) {
          return -1;
        }
        value = value * 10 + digit;
      }
      return value;
    }
  }

  private static boolean isDigit(int c) {
    return c >= '0' && c <= '9';
  }

  static Long parse(String text) {
    int[] cps = text.codePoints().toArray();
    if (cps.length < 7) {
      return null;
    }
    // _sanitize_isoformat_str: a surrogate separator (positions 7, 8 or 10) becomes 'T'
    for (int pos : new int[] {7, 8, 10}) {
      if (pos > cps.length) {
        break;
      }
      if (pos < cps.length && cps[pos] >= 0xD800 && cps[pos] <= 0xDFFF) {
        cps[pos] = 'T';
        break;
      }
    }
    for (int cp : cps) {
      if (cp >= 0xD800 && cp <= 0xDFFF) {
        return null; // not encodable as UTF-8
      }
    }
    Bytes s = new Bytes(new String(cps, 0, cps.length).getBytes(StandardCharsets.UTF_8));
    int len = s.data.length;
    int separator = separator(s, len);
    int[] date = new int[3];
    int rv = parseDate(s, separator < 0 ? Integer.MAX_VALUE : separator, date);
    int[] time = new int[4];
    int[] tz = new int[2];
    if (rv == 0 && len > separator) {
      int p = separator;
      int lead = s.at(p);
      if ((lead & 0x80) == 0) {
        p += 1;
      } else if ((lead & 0xF0) == 0xE0) {
        p += 3;
      } else if ((lead & 0xF0) == 0xF0) {
        p += 4;
      } else {
        p += 2;
      }
      rv = parseTime(s, p, len, time, tz);
    }
    if (rv < 0) {
      return null;
    }
    long offset = 0;
    if (rv == 1 && tz[0] != 0) { // an offset of 0 seconds is UTC, whatever its microseconds
      offset = tz[0] * 1_000_000L + tz[1];
      if (offset <= -PyTime.MICROS_PER_DAY || offset >= PyTime.MICROS_PER_DAY) {
        return null;
      }
    }
    int year = date[0];
    int month = date[1];
    int day = date[2];
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)
        || time[0] > 23 || time[1] > 59 || time[2] > 59) {
      return null;
    }
    long local = LocalDate.of(year, month, day).toEpochDay() * PyTime.MICROS_PER_DAY
        + ((time[0] * 60L + time[1]) * 60L + time[2]) * 1_000_000L + time[3];
    return PyTime.checked(local - offset);
  }

  /** _find_isoformat_datetime_separator. */
  private static int separator(Bytes s, int len) {
    if (len == 7) {
      return 7;
    }
    if (s.at(4) == '-') {
      if (s.at(5) == 'W') {
        if (len < 8) {
          return -1;
        }
        if (len > 8 && s.at(8) == '-') {
          if (len == 9) {
            return -1;
          }
          if (len > 10 && isDigit(s.at(10))) {
            return 8;
          }
          return 10;
        }
        return 8;
      }
      return 10;
    }
    if (s.at(4) == 'W') {
      int idx = 7;
      for (; idx < len; ++idx) {
        if (!isDigit(s.at(idx))) {
          break;
        }
      }
      if (idx < 9) {
        return idx;
      }
      return idx % 2 == 0 ? 7 : 8;
    }
    return 8;
  }

  /** parse_isoformat_date into {year, month, day}; 0 or a negative error code. */
  private static int parseDate(Bytes s, int len, int[] out) {
    int p = 0;
    int year = s.digits(p, 4);
    if (year < 0) {
      return -1;
    }
    p += 4;
    boolean usesSeparator = s.at(p) == '-';
    if (usesSeparator) {
      ++p;
    }
    if (s.at(p) == 'W') {
      p++;
      int week = s.digits(p, 2);
      if (week < 0) {
        return -3;
      }
      p += 2;
      int weekday;
      if (p < len) {
        if (usesSeparator && s.at(p++) != '-') {
          return -2;
        }
        weekday = s.digits(p, 1);
        if (weekday < 0) {
          return -4;
        }
      } else {
        weekday = 1;
      }
      int rv = isoToYmd(year, week, weekday, out);
      return rv != 0 ? -3 + rv : 0;
    }
    int month = s.digits(p, 2);
    if (month < 0) {
      return -1;
    }
    p += 2;
    if (usesSeparator && s.at(p++) != '-') {
      return -2;
    }
    int day = s.digits(p, 2);
    if (day < 0) {
      return -1;
    }
    out[0] = year;
    out[1] = month;
    out[2] = day;
    return 0;
  }

  /** parse_hh_mm_ss_ff into {hour, minute, second, microsecond}; 1 when text follows. */
  private static int parseHmsf(Bytes s, int p, int end, int[] out) {
    out[0] = out[1] = out[2] = out[3] = 0;
    boolean hasSeparator = true;
    for (int i = 0; i < 3; ++i) {
      int value = s.digits(p, 2);
      if (value < 0) {
        return -3;
      }
      out[i] = value;
      p += 2;
      int c = s.at(p++);
      if (i == 0) {
        hasSeparator = c == ':';
      }
      if (p >= end) {
        return c != 0 ? 1 : 0;
      } else if (hasSeparator && c == ':') {
        continue;
      } else if (c == '.' || c == ',') {
        break;
      } else if (!hasSeparator) {
        --p;
      } else {
        return -4;
      }
    }
    int toParse = Math.min(end - p, 6);
    int fraction = s.digits(p, toParse);
    if (fraction < 0) {
      return -3;
    }
    p += toParse;
    if (toParse < 6) {
      fraction *= CORRECTION[toParse - 1];
    }
    out[3] = fraction;
    while (isDigit(s.at(p))) {
      ++p;
    }
    return s.at(p) != 0 ? 1 : 0;
  }

  /** parse_isoformat_time; tz gets {offset seconds, offset microseconds}. 0: naive, 1: with an
   * offset, negative: invalid. */
  private static int parseTime(Bytes s, int p, int len, int[] time, int[] tz) {
    int end = len;
    int tzPos = p;
    do {
      int c = s.at(tzPos);
      if (c == 'Z' || c == '+' || c == '-') {
        break;
      }
    } while (++tzPos < end);
    int rv = parseHmsf(s, p, tzPos, time);
    if (rv < 0) {
      return rv;
    } else if (tzPos == end) {
      return rv == 1 ? -5 : 0;
    }
    if (s.at(tzPos) == 'Z') {
      tz[0] = 0;
      tz[1] = 0;
      return s.at(tzPos + 1) != 0 ? -5 : 1;
    }
    int sign = s.at(tzPos) == '-' ? -1 : 1;
    int[] offset = new int[4];
    rv = parseHmsf(s, tzPos + 1, end, offset);
    tz[0] = sign * (offset[0] * 3600 + offset[1] * 60 + offset[2]);
    tz[1] = sign * offset[3];
    return rv != 0 ? -5 : 1;
  }

  // ---- the calendar helpers of _datetimemodule.c, with C's truncating division ----

  private static boolean isLeap(int year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  }

  private static int daysInMonth(int year, int month) {
    return month == 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month];
  }

  private static int daysBeforeYear(int year) {
    int y = year - 1;
    return y * 365 + y / 4 - y / 100 + y / 400;
  }

  private static int ymdToOrd(int year, int month, int day) {
    return daysBeforeYear(year) + DAYS_BEFORE_MONTH[month] + (month > 2 && isLeap(year) ? 1 : 0) + day;
  }

  private static int isoWeek1Monday(int year) {
    int firstDay = ymdToOrd(year, 1, 1);
    int firstWeekday = (firstDay + 6) % 7;
    int monday = firstDay - firstWeekday;
    return firstWeekday > 3 ? monday + 7 : monday;
  }

  private static int isoToYmd(int isoYear, int isoWeek, int isoDay, int[] out) {
    if (isoWeek <= 0 || isoWeek >= 53) {
      int firstWeekday = (ymdToOrd(isoYear, 1, 1) + 6) % 7;
      if (isoWeek != 53 || !(firstWeekday == 3 || (firstWeekday == 2 && isLeap(isoYear)))) {
        return -2;
      }
    }
    if (isoDay <= 0 || isoDay >= 8) {
      return -3;
    }
    int ordinal = isoWeek1Monday(isoYear) + (isoWeek - 1) * 7 + isoDay - 1;
    if (ordinal < 1) {
      // only from year 0000, which C turns into a month <= 0 (ValueError either way)
      out[0] = 0;
      return 0;
    }
    LocalDate date = LocalDate.of(1, 1, 1).plusDays(ordinal - 1L);
    out[0] = date.getYear();
    out[1] = date.getMonthValue();
    out[2] = date.getDayOfMonth();
    return 0;
  }
}
