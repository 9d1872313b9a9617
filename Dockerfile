# Axon's image: one image for every role; the command picks it (api, worker, db upgrade, serve).

# Build a wheel in a throwaway stage, so the final image holds no source tree to shadow it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
# The server extra: the API, the worker and the migrations (a bare install is the client only).
RUN pip install "$(echo /wheels/axon-*.whl)[server]" && rm -rf /wheels \
    && useradd --create-home --uid 10001 axon
USER axon
WORKDIR /home/axon
# Only `axon serve` (the embedded default) keeps state here; production points at PostgreSQL.
ENV AXON_HOME=/home/axon/.axon
EXPOSE 8000
ENTRYPOINT ["axon"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
