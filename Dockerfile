# A slim, non-root image of the identity provider.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY idp ./idp
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin idp \
 && mkdir -p /app/keys && chown -R idp /app && chmod 700 /app/keys
COPY --from=build /install /usr/local
WORKDIR /app
USER idp
ENV IDP_HOST=0.0.0.0 \
    IDP_PORT=8000 \
    IDP_KEYS_DIR=/app/keys \
    PYTHONUNBUFFERED=1
EXPOSE 8000
VOLUME ["/app/keys"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["idp", "serve"]
