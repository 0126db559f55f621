@echo off
rem evalbatch nightly run for Windows Task Scheduler.
rem   run-nightly.cmd INPUT_FOLDER --out OUTPUT_FOLDER [other "evalbatch run" options]
rem (no --year: each year the run evaluates the year before.)
rem Everything the run prints is appended to logs\nightly-YYYY-MM.log beside this file (one file a
rem month, as run-nightly.sh does on Linux); the full log of each run is in OUTPUT_FOLDER\logs.
rem The exit code is evalbatch's own (0-5, see README), which Task Scheduler shows as
rem "Last Run Result".
rem This file is ASCII on purpose: cmd.exe reads it in the OEM code page (936 on a Chinese
rem Windows). Chinese folder names belong in the task's arguments, which stay Unicode.
setlocal
rem UTF-8 for this script's own lines and for Python's output, whatever the system code page.
chcp 65001 >nul
set PYTHONUTF8=1
set PYTHONIOENCODING=utf-8:replace
cd /d "%~dp0"
rem The month from PowerShell (on every Windows since 8.1): %DATE% is written in the user's locale.
set "MONTH="
for /f %%m in ('powershell -NoProfile -NonInteractive -Command "Get-Date -Format yyyy-MM"') do set "MONTH=%%m"
if not defined MONTH set "MONTH=undated"
if not exist "%~dp0logs" mkdir "%~dp0logs"
set "LOG=%~dp0logs\nightly-%MONTH%.log"
echo ===== %DATE% %TIME% evalbatch run %* >> "%LOG%"
"%~dp0.venv\Scripts\evalbatch.exe" run %* >> "%LOG%" 2>&1
set CODE=%ERRORLEVEL%
echo ===== %DATE% %TIME% exit code %CODE% >> "%LOG%"
exit /b %CODE%
