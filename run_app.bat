@echo off
REM Start the proxy: run_app.bat [provider-proxy serve options, e.g. --port 8082 --config config.toml]
REM On first run it creates .venv, installs the package and creates .env from .env.example, then stops
REM so you can put your key in it (unless OPENAI_API_KEY is already set in the environment).
setlocal EnableExtensions DisableDelayedExpansion
cd /d "%~dp0"

set "VENV=.venv"
set "VPY=.venv\Scripts\python.exe"

if exist "%VPY%" goto have_venv
set "PY="
if defined PYTHON call :try_python "%PYTHON%"
if not defined PY call :try_python py -3
if not defined PY call :try_python python
if not defined PY call :try_python python3
if not defined PY (
    echo error: Python 3.11 or newer is required but was not found. 1>&2
    echo        Install it from https://www.python.org/downloads/ ^(tick "Add python.exe to PATH"^), 1>&2
    echo        or set PYTHON=C:\path\to\python.exe and rerun. 1>&2
    exit /b 1
)
echo Creating %VENV% with %PY%...
%PY% -m venv "%VENV%"
if errorlevel 1 (
    echo error: could not create %VENV%. 1>&2
    exit /b 1
)

:have_venv
"%VPY%" -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
if errorlevel 1 (
    echo error: %VENV% uses a Python older than 3.11. Delete %VENV% and rerun this script. 1>&2
    exit /b 1
)

REM Reinstall only when pyproject.toml changed since the last install (or nothing is installed yet).
if not exist "%VENV%\Scripts\provider-proxy.exe" goto install
"%VPY%" -c "import hashlib, pathlib, sys; s = pathlib.Path(sys.argv[1]); h = hashlib.sha256(pathlib.Path('pyproject.toml').read_bytes()).hexdigest(); sys.exit(0 if s.exists() and s.read_text().strip() == h else 1)" "%VENV%\.install-stamp"
if errorlevel 1 goto install
goto installed
:install
echo Installing claude-code-provider-proxy into %VENV%...
"%VPY%" -m pip install --disable-pip-version-check -q -e .
if errorlevel 1 exit /b 1
"%VPY%" -c "import hashlib, pathlib, sys; h = hashlib.sha256(pathlib.Path('pyproject.toml').read_bytes()).hexdigest(); [pathlib.Path(p).write_text(h + chr(10)) for p in sys.argv[1:]]" "%VENV%\.install-stamp"
:installed

if exist ".env" goto have_env
copy /y ".env.example" ".env" >nul
echo.
echo Created .env from .env.example.
if defined OPENAI_API_KEY goto key_in_environment
REM Starting now would serve with the placeholder key: every request would fail.
echo   -^> Put your provider key in .env (OPENAI_API_KEY=...) and, for a provider other than OpenAI,
echo      set OPENAI_BASE_URL, BIG_MODEL and SMALL_MODEL (examples are in the file), then rerun run_app.bat.
exit /b 0
:key_in_environment
echo   -^> OPENAI_API_KEY is set in the environment (it wins over .env); starting.
echo.
:have_env
if defined OPENAI_API_KEY goto key_checked
findstr /b /c:"OPENAI_API_KEY=your-provider-key" ".env" >nul 2>&1
if not errorlevel 1 (
    echo warning: OPENAI_API_KEY in .env is still the placeholder; requests to the default provider will fail. 1>&2
    echo          Edit .env, or run "%VENV%\Scripts\provider-proxy.exe check" to see what is missing. 1>&2
)
:key_checked

"%VENV%\Scripts\provider-proxy.exe" serve %*
exit /b %ERRORLEVEL%

:try_python
%* -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" >nul 2>&1
if not errorlevel 1 set "PY=%*"
exit /b 0
