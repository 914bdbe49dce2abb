# berth.v1: berth_pb2 and berth_pb2_grpc, generated from proto/berth/v1/berth.proto when the
# package is built (by CMake into the build tree, or by setup.py when pip installs it).
