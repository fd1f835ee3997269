package io.github.cdcods.ksqldb;

import java.time.LocalDate;
import java.time.LocalTime;

/**
 * The timestamp rules of src/cdc_ods/ksql/functions.py, as CPython 3.11 applies them.
 *
 * <p>Times are microseconds since 1970-01-01 UTC. Python's datetime holds years 1..9999 only:
 * a result outside raises OverflowError there, an ArithmeticException here. Text comes out as
 * glibc's strftime writes it (the year is not zero-padded).
 */
final class PyTime {
  private PyTime() {}

  static final long MICROS_PER_DAY = 86_400_000_000L;
  private static final long MIN_MICROS = LocalDate.of(1, 1, 1).toEpochDay() * MICROS_PER_DAY;
  private static final long MAX_MICROS = (LocalDate.of(9999, 12, 31).toEpochDay() + 1) * MICROS_PER_DAY - 1;

  static long checked(long micros) {
    if (micros < MIN_MICROS || micros > MAX_MICROS) {
      throw new ArithmeticException("date value out of range");
    }
    return micros;
  }

  /** `%Y-%m-%dT%H:%M:%S.%fZ`. */
  static String isoUtc(long micros) {
    checked(micros);
    LocalDate date = LocalDate.ofEpochDay(Math.floorDiv(micros, MICROS_PER_DAY));
    return date.getYear() + "-" + pad(date.getMonthValue(), 2) + "-" + pad(date.getDayOfMonth(), 2) + "T"
        + timeOfDay(micros) + "Z";
  }

  /** `%H:%M:%S.%f` of the time of day. */
  static String timeOfDay(long micros) {
    checked(micros);
    LocalTime time = LocalTime.ofNanoOfDay(Math.floorMod(micros, MICROS_PER_DAY) * 1000);
    return pad(time.getHour(), 2) + ":" + pad(time.getMinute(), 2) + ":" + pad(time.getSecond(), 2) + "."
        + pad(time.getNano() / 1000, 6);
  }

  private static String pad(int value, int width) {
    StringBuilder text = new StringBuilder(Integer.toString(value));
    while (text.length() < width) {
      text.insert(0, '0');
    }
    return text.toString();
  }

  /** `_ts_iso`: datetime.fromisoformat(text.strip()), converted to UTC when it has an offset;
   * null where Python raises ValueError (not an ISO timestamp). */
  static String tsIso(String text) {
    Long micros = IsoFormat.parse(PyText.strip(text));
    return micros == null ? null : isoUtc(micros);
  }
}
