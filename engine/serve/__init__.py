"""``pmo serve``: the engine as an HTTP decision service (FastAPI on uvicorn), versioned under /v1.

    config.py   ServeConfig: every option of ``pmo serve``, passed to worker processes as JSON
    policy.py   PolicyHolder: the served Engine; a new policy version is compiled aside and swapped in whole
    access.py   bearer tokens and roles; the access log (no proposal contents unless asked, masked fields)
    app.py      the routes, request limits and structured JSON errors (the only module importing FastAPI)
    run.py      uvicorn: one process, or N workers that reload their policy on SIGHUP instead of restarting

Nothing here is imported by the other ``pmo`` commands: FastAPI and uvicorn load only when ``pmo serve`` runs.
"""
