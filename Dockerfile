FROM python:3.11-slim
WORKDIR /app
# Runtime dependencies at the locked versions (no dev server, test server or dev tools),
# then the project itself without resolving anything again.
COPY requirements-runtime.lock ./
RUN pip install --no-cache-dir -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY api api
COPY activities activities
COPY db db
COPY dosespot dosespot
COPY dosespot_sandbox dosespot_sandbox
COPY erx erx
COPY workflows workflows
COPY worker.py alembic.ini ./
RUN pip install --no-cache-dir --no-deps . && pip check
ENV PYTHONUNBUFFERED=1
# No access log: request lines carry query strings (pharmacy and allergen searches).
CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
