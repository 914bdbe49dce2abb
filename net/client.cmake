# The client half of net: HttpClient (Beast over TCP/TLS, keep-alive pool, streaming). tls.cc
# is shared with the server half (server.cmake lists it too; CMake keeps one copy).
target_sources(berth_net PRIVATE http_client.cc tls.cc)

if(BUILD_TESTING)
  berth_test(net_client_test SOURCES tests/client_test.cc DEPS berth::net)
endif()
