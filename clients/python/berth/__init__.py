"""Python client of berthd, the Spark executor broker.

    from berth import Client
    with Client("127.0.0.1:7433") as client:
        client.register_application("my-app", pools=["local"], profiles=[profile(0, cores=1, heap_mib=512)],
                                    command=["sleep", "3600"])
        client.request_total_executors("my-app", {0: 3})
        for event in client.watch("my-app"):
            ...

The messages are those of proto/berth/v1/berth.proto, importable as `berth.v1.berth_pb2`.
"""

from berth.client import (Client, EventWatch, LeaseKeeper, TERMINAL_STATES, executor_state_name,
                          launch_spec, profile)
from berth.v1 import berth_pb2 as pb

__all__ = ["Client", "EventWatch", "LeaseKeeper", "TERMINAL_STATES", "executor_state_name", "launch_spec",
           "pb", "profile"]
