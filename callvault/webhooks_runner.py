"""Wiring of the outbound webhooks: Settings + Services → endpoints, the deliverer, and the
delivery worker that `callvault serve` runs beside the portal and the scheduler."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from callvault.wiring import Services

if TYPE_CHECKING:
    from webhooks.delivery import Deliverer, DeliveryWorker
    from webhooks.endpoints import Endpoints


def endpoints(svc: Services) -> Endpoints:
    from webhooks.endpoints import Endpoints

    return Endpoints(svc.catalogue, svc.envelope, allow_private=svc.settings.webhooks.allow_private)


def deliverer(svc: Services) -> Deliverer:
    from webhooks.delivery import Deliverer

    w = svc.settings.webhooks
    return Deliverer(
        svc.catalogue,
        endpoints(svc),
        timeout_s=float(w.timeout_s),
        give_up_after=timedelta(seconds=w.give_up_after_s),
    )


def worker(svc: Services) -> DeliveryWorker:
    from webhooks.delivery import DeliveryWorker

    return DeliveryWorker(deliverer(svc), poll_s=float(svc.settings.webhooks.poll_s))
