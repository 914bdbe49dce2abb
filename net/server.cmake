# The server half of net (owned with the simulators): HttpServer over Beast and the TLS helpers
# the client shares. Beast is confined to http_server.cc.
target_sources(berth_net PRIVATE http_server.cc tls.cc)

if(BUILD_TESTING)
  berth_test(net_server_test SOURCES tests/server_test.cc DEPS berth::net)
endif()
