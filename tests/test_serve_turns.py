"""pmo serve's heavy answers take turns (found by an integrator: four rankings of 10,000 with sensitivity at once
took ~800 MB, and a ranking past --timeout ran on while the retries started more). Through the ASGI app in a
process of its own (its threads must not outlive the test in a pytest worker that forks later): a computation is
held on an event, so which request runs and which waits is decided by the test, not by time."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SCENARIO = r'''
import asyncio, json, sys, threading
import httpx
from engine.serve.app import Service, create_app
from engine.serve.config import ServeConfig

config = ServeConfig(log=sys.argv[1], heavy=1, timeout=1.0, watch=0)
service = Service(config)
engine = service.holder.current.engine
release, running, ran = threading.Event(), threading.Event(), []
real_rank = engine.rank

def held_rank(*args, **kwargs):
    ran.append(True)
    running.set()
    assert release.wait(30), "never released"  # a hang guard, not a timing
    return real_rank(*args, **kwargs)
engine.rank = held_rank
body = {"proposals": [{"id": "A", "title": "t", "budget": 100_000}]}

async def scenario():
    transport = httpx.ASGITransport(app=create_app(config, service))
    async with httpx.AsyncClient(transport=transport, base_url="http://pmo") as client:
        first = asyncio.create_task(client.post("/v1/rank", json=body))
        await asyncio.to_thread(running.wait, 30)  # the first holds the only turn
        second = await client.post("/v1/rank", json=body)  # waits for a turn, never gets one in 1 s
        health = await client.get("/health")  # light answers never wait for a turn
        first = await first  # past the timeout: it started, so it is a timeout, and runs on
        ran_before = len(ran)
        release.set()
        for _ in range(50):  # the abandoned computation gives its turn back when it ends
            third = await client.post("/v1/rank", json=body)
            if third.status_code == 200:
                break
        answers = {name: (r.status_code, r.json().get("error", {}).get("code"), dict(r.headers))
                   for name, r in (("first", first), ("second", second), ("health", health), ("third", third))}
        return answers, ran_before, len(ran), second.json()["error"]["hint"]
print(json.dumps(asyncio.run(scenario())))
'''


def test_at_most_max_heavy_answers_at_once_the_rest_wait_then_503_busy(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCENARIO, str(tmp_path / "log.sqlite")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    answers, ran_before, ran, hint = json.loads(done.stdout.splitlines()[-1])
    assert answers["second"][:2] == [503, "busy"] and answers["second"][2]["retry-after"] == "5"
    assert "--max-heavy" in hint
    assert answers["first"][:2] == [503, "timeout"] and answers["health"][0] == 200
    assert ran_before == 1  # the waiting request never ran
    assert answers["third"][0] == 200 and ran == 2  # once the turn was given back, the next one ran
