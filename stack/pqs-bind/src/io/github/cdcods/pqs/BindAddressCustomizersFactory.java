package io.github.cdcods.pqs;

import java.util.ArrayList;
import java.util.List;

import org.apache.calcite.avatica.server.AvaticaServerConfiguration;
import org.apache.calcite.avatica.server.ServerCustomizer;
import org.apache.hadoop.conf.Configuration;
import org.apache.phoenix.queryserver.server.ServerCustomizersFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * Makes the Phoenix Query Server listen on one address instead of every interface.
 *
 * <p>Query Server 6.0.0 only sets the HTTP port, so its Jetty binds 0.0.0.0. It finds its
 * ServerCustomizersFactory through java.util.ServiceLoader; this one keeps the stock
 * customizers and adds one that sets each connector's host to
 * {@code phoenix.queryserver.http.bind.address} (default 127.0.0.1). Avatica runs the
 * customizers before {@code Server.start()}, so nothing ever binds elsewhere.
 */
public final class BindAddressCustomizersFactory implements ServerCustomizersFactory {
  public static final String BIND_ADDRESS = "phoenix.queryserver.http.bind.address";

  @Override
  public List<ServerCustomizer<Server>> createServerCustomizers(
      Configuration conf, AvaticaServerConfiguration avaticaServerConfiguration) {
    List<ServerCustomizer<Server>> customizers = new ArrayList<>(
        new ServerCustomizersFactory.ServerCustomizersFactoryImpl()
            .createServerCustomizers(conf, avaticaServerConfiguration));
    String host = conf.get(BIND_ADDRESS, "127.0.0.1");
    customizers.add(server -> {
      for (Connector connector : server.getConnectors()) {
        if (connector instanceof ServerConnector) {
          ((ServerConnector) connector).setHost(host);
        }
      }
    });
    return customizers;
  }
}
