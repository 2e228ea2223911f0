"""Local stand-ins for what AWS provides, shared by ``aiflow dev`` and ``aiflow.testing``.

* :mod:`~aiflow.local.gateway`: API Gateway HTTP API events in and out of a Lambda handler;
* :mod:`~aiflow.local.server`: that gateway on a loopback HTTP port (the dev server), with
  :mod:`~aiflow.local.websocket`, a WebSocket API on the same port;
* :mod:`~aiflow.local.embedded`: an embedded DynamoDB (moto) with the tables of
  ``template.yaml`` (read by :mod:`~aiflow.local.template`);
* :mod:`~aiflow.local.transports`: how a simulated platform reaches a webhook (in process,
  HTTP, WebSocket).

Local-only: nothing here ships to Lambda, and nothing here imports ``aiflow.dev`` or
``aiflow.testing`` (both build on it).
"""
