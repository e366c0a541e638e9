#!/usr/bin/env python3
"""Subscribe to a Dockwatch server's live metrics from Python, with stubs made by stock protoc.

Generate the stubs once (Debian: apt-get install python3-grpcio python3-grpc-tools):

    GT=$(python3 -c 'import grpc_tools,os;print(os.path.dirname(grpc_tools.__file__))')
    mkdir -p gen && python3 -m grpc_tools.protoc -I proto -I "$GT/_proto" \
        --python_out=gen --grpc_python_out=gen proto/metrics.proto

Then:

    PYTHONPATH=gen DOCKWATCH_TOKEN=... python3 examples/subscribe.py --server 127.0.0.1:50051 \
        --name 'web-*' --label env=prod --count 5

Prints one JSON object per MetricData (proto field names). The first messages are the
snapshot (sequence 0): the latest sample of every matching container, one per host.
"""
import argparse
import json
import os
import sys

import grpc
from google.protobuf.json_format import MessageToDict

import metrics_pb2
import metrics_pb2_grpc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.environ.get("DOCKWATCH_GRPC_ADDR", "127.0.0.1:50051"))
    p.add_argument("--host", action="append", default=[], help="hostname or agent id (repeatable)")
    p.add_argument("--id", action="append", default=[], help="container id or prefix (repeatable)")
    p.add_argument("--name", action="append", default=[], help="container name glob (repeatable)")
    p.add_argument("--label", action="append", default=[], help='selector: key, !key, key=value, key!=value')
    p.add_argument("--include-host", action="store_true", help="also send host samples")
    p.add_argument("--count", type=int, default=0, help="exit after this many messages (0: run forever)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    a = p.parse_args()

    token = os.environ.get("DOCKWATCH_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else []
    request = metrics_pb2.SubscriptionRequest(
        hosts=a.host, container_ids=a.id, names=a.name, labels=a.label, include_host=a.include_host)

    with grpc.insecure_channel(a.server) as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        n = 0
        try:
            for msg in stub.SubscribeToMetrics(request, metadata=metadata, timeout=a.timeout):
                print(json.dumps(MessageToDict(msg, preserving_proto_field_name=True)), flush=True)
                n += 1
                if a.count and n >= a.count:
                    return 0
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
