@echo off
REM Build and start the proxy in Docker: run_docker.bat
REM Creates .env from .env.example when missing (and stops, so you can fill it in); otherwise runs
REM "docker compose up --build -d".
setlocal EnableExtensions DisableDelayedExpansion
cd /d "%~dp0"

docker compose version >nul 2>&1
if errorlevel 1 (
    echo error: Docker Compose was not found. Install Docker Desktop ^(https://docs.docker.com/desktop/^), 1>&2
    echo        or run the proxy without Docker: run_app.bat 1>&2
    exit /b 1
)

if exist ".env" goto have_env
copy /y ".env.example" ".env" >nul
echo Created .env from .env.example.
echo   -^> Put your provider key in .env (OPENAI_API_KEY=...) and, for a provider other than OpenAI,
echo      set OPENAI_BASE_URL, BIG_MODEL and SMALL_MODEL, then rerun run_docker.bat.
exit /b 0
:have_env
findstr /b /c:"OPENAI_API_KEY=your-provider-key" ".env" >nul 2>&1
if not errorlevel 1 echo warning: OPENAI_API_KEY in .env is still the placeholder; requests to the default provider will fail. 1>&2

docker compose up --build -d
if errorlevel 1 exit /b 1

echo.
echo The proxy is starting on http://localhost:8082 (check: curl http://localhost:8082/health).
echo.
echo Use it with Claude Code (cmd):
echo   set ANTHROPIC_BASE_URL=http://localhost:8082
echo   set ANTHROPIC_AUTH_TOKEN=any-value        (or the PROXY_API_KEY from .env, if you set one)
echo   claude
echo.
echo Logs:    docker compose logs -f proxy
echo Status:  docker compose ps
echo Stop:    docker compose down
echo After editing .env: docker compose up -d   (recreates the container with the new settings)
exit /b 0
