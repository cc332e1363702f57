# One image for web, workers and beat. torch from PyPI is the CUDA build: the same image runs on GPU hosts.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends libgdal32 libgeos-c1v5 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv && uv venv /opt/venv
WORKDIR /app
COPY requirements.txt .
RUN uv pip install --no-cache -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "geoloc_platform.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
