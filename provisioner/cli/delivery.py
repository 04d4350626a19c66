"""Turn a sink specification into the ``deliver`` callable apply, reveal and rotate use."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import UsageError
from provisioner.execute.executor import Deliver
from provisioner.secret import Secret


@dataclass(frozen=True)
class Delivery:
    """Where keys go: the callable the executor calls, and the sink's description."""

    deliver: Deliver
    sink: str


def make_delivery(
    sink_text: str | None, server_url: str, credential: Secret | None = None
) -> Delivery | None:
    """The configured delivery, or None when no sink is configured.

    ``credential`` lets an ``exec:`` sink keep any variable holding it out of
    the child's environment.
    """
    if not sink_text:
        return None
    from provisioner.secrets.sinks import ExecSink, KeyDelivery, github_add_mask, parse_sink

    try:
        sink = parse_sink(sink_text)
    except ValueError as exc:
        raise UsageError(f"key sink: {exc}") from None
    if isinstance(sink, ExecSink):
        sink.credential = credential

    def deliver(batch: list[tuple[str, str, Secret]]) -> dict[str, str]:
        # Under GitHub Actions, mask every key before anything else is printed.
        github_add_mask([key for _, _, key in batch])
        items = [KeyDelivery(name, key_name, key, server_url) for name, key_name, key in batch]
        results = sink.deliver(items)
        return {r.name: r.error or "delivery failed" for r in results if not r.ok}

    return Delivery(deliver, sink.description)
