"""A small client of Toxiproxy's HTTP API (deploy/local/toxiproxy.sh runs the server)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from drills.stack import Stack


class Toxiproxy:
    def __init__(self, stack: Stack) -> None:
        port = os.environ.get("RETOUR_TOXIPROXY_PORT") or str(8474 + stack.port_offset)
        self._http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0)

    async def close(self) -> None:
        await self._http.aclose()

    async def proxy(self, name: str, listen_port: int, upstream: str) -> str:
        """A proxy from 127.0.0.1:listen_port to upstream, replacing any of that name."""
        await self._http.delete(f"/proxies/{name}")
        listen = f"127.0.0.1:{listen_port}"
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        (await self._http.post("/proxies", json=body)).raise_for_status()
        return listen

    async def toxic(self, proxy: str, kind: str, stream: str, **attributes: Any) -> None:
        body: dict[str, Any] = {"name": f"{kind}_{stream}", "type": kind, "stream": stream}
        body["attributes"] = attributes
        (await self._http.post(f"/proxies/{proxy}/toxics", json=body)).raise_for_status()

    async def clear(self, proxy: str) -> None:
        """No toxics left, and the proxy enabled: the link as if nothing happened."""
        answer = await self._http.get(f"/proxies/{proxy}/toxics")
        answer.raise_for_status()
        for toxic in answer.json():
            await self._http.delete(f"/proxies/{proxy}/toxics/{toxic['name']}")
        await self.enable(proxy, enabled=True)

    async def enable(self, proxy: str, *, enabled: bool) -> None:
        """Disabled, the proxy closes its connections and refuses new ones: a cut link."""
        answer = await self._http.post(f"/proxies/{proxy}", json={"enabled": enabled})
        answer.raise_for_status()

    async def remove(self, proxy: str) -> None:
        await self._http.delete(f"/proxies/{proxy}")
