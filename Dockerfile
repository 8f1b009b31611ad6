# A slim, non-root image of the identity provider, installed from the lock files
# (requirements/, made by scripts/lock): every package pinned and hash-checked.
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Dependencies first, so that a code change does not reinstall them.
COPY requirements/ ./requirements/
RUN pip install --require-hashes -r requirements/build.txt \
 && pip install --prefix=/install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY idp ./idp
RUN pip install --prefix=/install --no-deps --no-build-isolation .

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin idp \
 && mkdir -p /app/keys && chown -R idp /app && chmod 700 /app/keys
COPY --from=build /install /usr/local
WORKDIR /app
USER idp
# IDP_HOST is every interface, so IDP_ISSUER has no default: give it at run time
# (docker run -e IDP_ISSUER=https://id.example.com ...); compose sets it.
ENV IDP_HOST=0.0.0.0 \
    IDP_PORT=8000 \
    IDP_KEYS_DIR=/app/keys \
    PYTHONUNBUFFERED=1
EXPOSE 8000
VOLUME ["/app/keys"]
# Asks the port the server was configured with, so a changed IDP_PORT keeps it healthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['IDP_PORT'], timeout=2)"]
CMD ["idp", "serve"]
