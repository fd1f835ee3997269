package io.github.cdcods.ksqldb;

import io.confluent.ksql.function.udf.Udf;
import io.confluent.ksql.function.udf.UdfDescription;
import java.io.BufferedReader;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.apache.kafka.common.Configurable;

/**
 * Runs the UDF jar against test vectors computed by the Python functions
 * (tests/unit/test_ksqldb_udf.py) and reports every difference.
 *
 * <p>The functions are found and called as ksqlDB does: classes annotated @UdfDescription,
 * instantiated, configured through Configurable with the server's `ksql.functions.*`
 * properties, and their @Udf method invoked by reflection.
 *
 * <p>Usage: VectorCheck UDF.jar VECTORS KEY. A vector line: NAME TAB INPUT TAB EXPECTED, where a
 * value is N (NULL), E (raises), I&lt;long&gt;, S&lt;UTF-16 code units in hex&gt; or L&lt;values,
 * comma-separated&gt;. Prints the UDF names, one line per difference, then a summary; exit 1 on
 * any difference.
 */
public final class VectorCheck {
  private VectorCheck() {}

  public static void main(String[] args) throws Exception {
    Map<String, Object> config = Collections.singletonMap("ksql.functions.cdc_hmac.key", args[2]);
    Map<String, Object> udfs = new TreeMap<>();
    Map<String, Method> methods = new TreeMap<>();
    try (JarFile jar = new JarFile(args[0])) {
      for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
        String name = e.nextElement().getName();
        if (!name.endsWith(".class")) {
          continue;
        }
        Class<?> type = Class.forName(name.replace('/', '.').replaceAll("\\.class$", ""));
        UdfDescription description = type.getAnnotation(UdfDescription.class);
        if (description == null) {
          continue;
        }
        Object udf = type.getConstructor().newInstance();
        if (udf instanceof Configurable) {
          ((Configurable) udf).configure(config);
        }
        for (Method method : type.getMethods()) {
          if (method.getAnnotation(Udf.class) != null) {
            udfs.put(description.name(), udf);
            methods.put(description.name(), method);
          }
        }
      }
    }
    System.out.println("udfs: " + String.join(",", udfs.keySet()));
    int checked = 0;
    int failed = 0;
    try (BufferedReader lines = Files.newBufferedReader(Paths.get(args[1]), StandardCharsets.US_ASCII)) {
      for (String line = lines.readLine(); line != null; line = lines.readLine()) {
        String[] fields = line.split("\t", -1);
        Method method = methods.get(fields[0]);
        String actual;
        if (method == null) {
          actual = "no such UDF";
        } else {
          try {
            actual = encode(method.invoke(udfs.get(fields[0]), decode(fields[1])));
          } catch (InvocationTargetException e) {
            actual = "E";
          }
        }
        checked++;
        if (!actual.equals(fields[2])) {
          failed++;
          if (failed <= 40) {
            System.out.println("DIFF " + fields[0] + "(" + show(fields[1]) + "): python " + show(fields[2])
                + ", java " + show(actual));
          }
        }
      }
    }
    System.out.println(checked + " vectors, " + failed + " differences");
    System.exit(failed == 0 ? 0 : 1);
  }

  private static Object decode(String field) {
    switch (field.charAt(0)) {
      case 'N':
        return null;
      case 'I':
        return Long.valueOf(field.substring(1));
      case 'S': {
        StringBuilder text = new StringBuilder();
        for (int i = 1; i < field.length(); i += 4) {
          text.append((char) Integer.parseInt(field.substring(i, i + 4), 16));
        }
        return text.toString();
      }
      default:
        throw new IllegalArgumentException("bad vector field " + field);
    }
  }

  private static String encode(Object value) {
    if (value == null) {
      return "N";
    }
    if (value instanceof List) {
      List<String> items = new ArrayList<>();
      for (Object item : (List<?>) value) {
        items.add(encode(item));
      }
      return "L" + String.join(",", items);
    }
    StringBuilder out = new StringBuilder("S");
    for (char c : value.toString().toCharArray()) {
      out.append(String.format("%04x", (int) c));
    }
    return out.toString();
  }

  /** A field as readable text (for the report). */
  private static String show(String field) {
    if (field.startsWith("S")) {
      String text = (String) decode(field);
      return "'" + text.replace("\n", "\\n") + "'" + (text.chars().anyMatch(c -> c > 126) ? " " + field : "");
    }
    if (field.startsWith("L")) {
      List<String> items = new ArrayList<>();
      for (String item : field.substring(1).split(",", -1)) {
        items.add(item.isEmpty() ? "" : show(item));
      }
      return "[" + String.join(", ", items) + "]";
    }
    return field;
  }
}
