"""pmo serve's heavy answers take turns (found by an integrator: four rankings of 10,000 with sensitivity at once
took ~800 MB, and a ranking past --timeout ran on while the retries started more). In process, through the ASGI
app: a computation is held on an event, so which request runs and which waits is decided by the test, not by time."""
import asyncio
import threading

import httpx

from engine.serve.app import Service, create_app
from engine.serve.config import ServeConfig


def test_at_most_max_heavy_answers_at_once_the_rest_wait_then_503_busy(tmp_path, monkeypatch):
    config = ServeConfig(log=str(tmp_path / "log.sqlite"), heavy=1, timeout=1.0, watch=0)
    service = Service(config)
    engine = service.holder.current.engine
    release, running, ran = threading.Event(), threading.Event(), []
    real_rank = engine.rank

    def held_rank(*args, **kwargs):
        ran.append(True)
        running.set()
        assert release.wait(30), "never released"  # a hang guard, not a timing
        return real_rank(*args, **kwargs)
    monkeypatch.setattr(engine, "rank", held_rank)
    body = {"proposals": [{"id": "A", "title": "t", "budget": 100_000}]}

    async def scenario():
        transport = httpx.ASGITransport(app=create_app(config, service))
        async with httpx.AsyncClient(transport=transport, base_url="http://pmo") as client:
            first = asyncio.create_task(client.post("/v1/rank", json=body))
            await asyncio.to_thread(running.wait, 30)  # the first holds the only turn
            second = await client.post("/v1/rank", json=body)  # waits for a turn, never gets one in 1 s
            health = await client.get("/health")  # light answers never wait for a turn
            first = await first  # past the timeout: it started, so it is a timeout, and runs on
            release.set()
            while len(ran) < 2:  # the abandoned computation gives its turn back when it ends
                third = await client.post("/v1/rank", json=body)
                if third.status_code == 200:
                    break
            return first, second, health, third
    first, second, health, third = asyncio.run(scenario())
    assert second.status_code == 503 and second.json()["error"]["code"] == "busy"
    assert second.headers["retry-after"] == "5" and "--max-heavy" in second.json()["error"]["hint"]
    assert first.status_code == 503 and first.json()["error"]["code"] == "timeout"
    assert health.status_code == 200
    assert third.status_code == 200 and len(ran) == 2  # the waiting one never ran; the third did
