"""`modelcore serve`: an OpenAI-compatible HTTP server over one `Engine` (Starlette + uvicorn).

protocol.py reads request bodies into SamplingParams and writes replies (pure); app.py is the ASGI app (auth,
limits, streaming, adapters); cli.py parses `python -m modelcore serve` and starts it. Importing this package
imports neither Starlette nor the model.
"""
