"""``fairskin reader-study serve``: the web app under waitress, a production WSGI server."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from fairskin.reader_study._config import ServeConfig
from fairskin.reader_study._store import display_url

__all__ = ["serve_study", "start_server", "RunningServer"]


@dataclass
class RunningServer:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.close()
        self.thread.join(timeout=10)


def _server(study, *, db, config: ServeConfig):
    from waitress import create_server

    from fairskin.reader_study._web import create_app

    app = create_app(study, db=db, config=config)
    return create_server(app, host=config.host, port=config.port, threads=config.threads, ident="fairskin",
                         clear_untrusted_proxy_headers=True), app


def start_server(study: str | Path, *, db: str | None = None, config: ServeConfig = ServeConfig(port=0)) -> RunningServer:
    """Serve in a background thread (tests, benchmarks); ``config.port=0`` picks a free port."""
    server, _ = _server(study, db=db, config=config)
    t = threading.Thread(target=server.run, name="fairskin-reader-study", daemon=True)
    t.start()
    return RunningServer(url=f"http://{config.host}:{server.effective_port}", server=server, thread=t)


def serve_study(study: str | Path, *, db: str | None = None, config: ServeConfig = ServeConfig(),
                announce=print) -> None:
    """Serve until interrupted."""
    server, app = _server(study, db=db, config=config)
    store = app.extensions["fairskin_store"]
    announce(f"reader study {Path(study)} at http://{config.host}:{server.effective_port}/ "
             f"(answers in {display_url(store.url)}); Ctrl+C stops")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        store.dispose()
