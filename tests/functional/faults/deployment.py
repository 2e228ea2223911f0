"""A deployment: one assistant's webhook, worker and WebSocket Lambda handlers on the
loopback cloud, wired as ``template.yaml`` wires them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiflow import Assistant
from aiflow.lambda_ import Settings, lambda_handler, websocket_handler, worker_handler
from aiflow.lambda_.websocket import WebSocketHandler

from .cloud import WORKER, Cloud
from .phone import Phone, WsPhone
from .practice import praxis


@dataclass
class Deployment:
    """One assistant's functions on the cloud, as ``template.yaml`` deploys them."""

    cloud: Cloud
    assistant: Assistant
    settings: Settings
    webhook: Any
    worker: Any
    websocket: WebSocketHandler

    def phone(self, **kwargs: Any) -> Phone:
        return Phone(self.webhook, **kwargs)

    def ws_phone(self) -> WsPhone:
        return WsPhone(self.websocket, self.cloud)

    @property
    def fallback(self) -> str:
        return self.assistant.fallback


@dataclass
class Deployer:
    """Builds deployments for a test and closes their engines afterwards."""

    cloud: Cloud
    built: list[Deployment] = field(default_factory=list)

    def __call__(
        self, assistant: Assistant | None = None, *, worker: bool = True, **overrides: Any
    ) -> Deployment:
        assistant = assistant or praxis()
        settings = Settings(
            table_name=self.cloud.table,
            token_secret=self.cloud.secret,
            worker_function=WORKER if worker else None,
            ws_endpoint=self.cloud.ws_endpoint,
            in_lambda=True,  # the clients Lambda gets: created at init, budget-bound timeouts
            **overrides,
        )
        webhook = lambda_handler(assistant, settings=settings)
        worker_fn = worker_handler(assistant, settings=settings)
        websocket = websocket_handler(assistant, settings=settings)
        if worker:
            self.cloud.workers[WORKER] = worker_fn
        deployment = Deployment(self.cloud, assistant, settings, webhook, worker_fn, websocket)
        self.built.append(deployment)
        return deployment

    def close(self) -> None:
        for deployment in self.built:
            deployment.webhook.engine.close()
            deployment.worker.engine.close()
            if deployment.websocket._transport is not None:
                deployment.websocket.transport.close()
