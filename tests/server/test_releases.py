"""Following publishes: one snapshot per request, new requests see the new release, no failures."""

import threading
import time

import anyio
import httpx
import pytest
import uvicorn

from schema.release import Store
from server.app import create_app
from server.config import ServerConfig
from server.releases import Releases
from tests.server.conftest import make_client, write_store
from tests.server.live import free_port

SNAPSHOT = "{ meta { release counts { networks } } networks { totalCount } }"


def test_lease_keeps_its_release_until_it_ends(tmp_path):
    store = write_store(tmp_path)
    releases = Releases(store, pool_size=2, check_s=0.0)

    async def scenario():
        async with releases.lease() as old:
            # publish while a request holds the old release
            write_store(tmp_path, note="second", dataset="second.h5ad")
            async with releases.lease() as new:
                assert new.release_id != old.release_id
                assert new.release_id == store.current_release()
            assert old.retired
            # the old release still answers inside its lease
            (count,) = await old.run(lambda con: con.execute("SELECT count(*) FROM networks").fetchone())
            assert count == 3
        assert old._closed

    anyio.run(scenario)
    releases.close()


def test_requests_keep_the_old_release_while_the_new_one_opens(tmp_path, monkeypatch):
    store = write_store(tmp_path)
    releases = Releases(store, pool_size=2, check_s=0.0)
    opening, may_open = threading.Event(), threading.Event()
    open_release = releases._open

    def slow_open():
        opening.set()
        may_open.wait(timeout=10)
        return open_release()

    async def scenario():
        async with releases.lease() as old:
            pass
        write_store(tmp_path, note="second", dataset="second.h5ad")
        monkeypatch.setattr(releases, "_open", slow_open)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(releases._ensure_current)  # notices the publish and opens it (slowly)
            await anyio.to_thread.run_sync(opening.wait, 10)
            start = time.monotonic()
            async with releases.lease() as meanwhile:
                assert meanwhile.release_id == old.release_id  # served at once, not after the open
            assert time.monotonic() - start < 1
            may_open.set()
        async with releases.lease() as new:
            assert new.release_id == store.current_release() != old.release_id

    anyio.run(scenario)
    releases.close()


def test_new_requests_see_a_new_publish_without_restart(tmp_path):
    write_store(tmp_path)
    with make_client(tmp_path) as client:
        first = client.post("/graphql", json={"query": SNAPSHOT}).json()["data"]
        assert first["networks"]["totalCount"] == 3
        write_store(tmp_path, note="second", dataset="second.h5ad")
        second = client.post("/graphql", json={"query": SNAPSHOT}).json()["data"]
        assert second["networks"]["totalCount"] == 6
        assert second["meta"]["release"] == Store(tmp_path).current_release() != first["meta"]["release"]
        assert client.get("/healthz").json() == {"status": "ok", "release": second["meta"]["release"]}


def test_healthz_is_503_before_the_first_publish(tmp_path):
    with make_client(tmp_path) as client:
        response = client.get("/healthz")
        assert response.status_code == 503 and "no published release" in response.json()["reason"]
        graphql = client.post("/graphql", json={"query": "{ meta { release } }"})
        assert graphql.status_code == 503 and "no published release" in graphql.json()["errors"][0]["message"]


@pytest.fixture
def live_server(tmp_path):
    """A real uvicorn server on loopback over a fresh store; yields (base url, store root)."""
    write_store(tmp_path)
    port = free_port()
    app = create_app(ServerConfig(db=tmp_path, release_check_s=0.05))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", tmp_path
    server.should_exit = True
    thread.join(timeout=10)


def test_publish_during_traffic(live_server):
    url, root = live_server
    stop = threading.Event()
    failures: list[str] = []
    seen: list[tuple[str, int]] = []

    def client_loop():
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                response = client.post("/graphql", json={"query": SNAPSHOT})
                body = response.json()
                if response.status_code != 200 or "errors" in body:
                    failures.append(response.text)
                    continue
                data = body["data"]
                # one response reads one release: its counts agree with each other
                if data["meta"]["counts"]["networks"] != data["networks"]["totalCount"]:
                    failures.append(f"mixed snapshot: {data}")
                seen.append((data["meta"]["release"], data["networks"]["totalCount"]))

    def wait_for(condition, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError
            time.sleep(0.05)

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(seen) >= 8)  # traffic is flowing on the first release
    write_store(root, note="second", dataset="second.h5ad")
    new_release = Store(root).current_release()
    wait_for(lambda: sum(release == new_release for release, _ in seen) >= 8)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    assert not failures, failures[:3]
    assert {count for _, count in seen} == {3, 6}
    assert all(count == 6 for release, count in seen if release == new_release)
    with httpx.Client(base_url=url) as client:
        assert (
            client.post("/graphql", json={"query": SNAPSHOT}).json()["data"]["meta"]["release"] == new_release
        )


def test_the_server_cannot_write(tmp_path):
    import duckdb

    store = write_store(tmp_path)
    releases = Releases(store)

    async def scenario():
        async with releases.lease() as release:
            # Tables are views over release files attached read-only; no other file can be reached.
            with pytest.raises(duckdb.Error, match="read-only"):
                await release.run(lambda con: con.execute("CREATE TABLE release_file.intruder (a INTEGER)"))
            with pytest.raises(duckdb.Error, match="read-only"):
                await release.run(lambda con: con.execute("DELETE FROM release_file.edges"))
            with pytest.raises(duckdb.Error, match="Can only delete from base table"):
                await release.run(lambda con: con.execute("DELETE FROM edges"))
            with pytest.raises(duckdb.Error, match="disabled by configuration"):
                await release.run(lambda con: con.execute("COPY edges TO '/tmp/stolen.csv'"))
            with pytest.raises(duckdb.Error, match="locked"):
                await release.run(lambda con: con.execute("SET enable_external_access = true"))
            (count,) = await release.run(lambda con: con.execute("SELECT count(*) FROM edges").fetchone())
            assert count == 13

    anyio.run(scenario)
    releases.close()
