@echo off
rem evalbatch serve for Windows Task Scheduler (deploy\evalbatch-serve.xml imports a task that
rem starts it at boot and, should it ever stop, again within 5 minutes).
rem   run-serve.cmd OUTPUT_FOLDER --inbox INBOX_FOLDER [other "evalbatch serve" options]
rem Each start writes what the server prints (warnings, a crash's traceback) to its own file,
rem logs\serve-YYYYMMDD-HHMMSS-XXXXXXXX.log beside this file; files older than 30 days there
rem are deleted. The exit code is evalbatch's own, which Task Scheduler shows as "Last Run
rem Result" (2: usage, or no access codes yet - also when the share is not reachable at boot).
rem This file is ASCII on purpose: cmd.exe reads it in the OEM code page (936 on a Chinese
rem Windows). Chinese folder names belong in the task's arguments, which stay Unicode.
setlocal
chcp 65001 >nul
set PYTHONUTF8=1
set PYTHONIOENCODING=utf-8:replace
cd /d "%~dp0"
if not exist "%~dp0logs" mkdir "%~dp0logs"
set "STAMP="
for /f "usebackq delims=" %%t in (`powershell -NoProfile -NonInteractive -Command "(Get-Date -Format yyyyMMdd-HHmmss) + '-' + [guid]::NewGuid().ToString('N').Substring(0, 8)"`) do set "STAMP=%%t"
if not defined STAMP set "STAMP=%RANDOM%-%RANDOM%-%RANDOM%"
set "LOG=%~dp0logs\serve-%STAMP%.log"
forfiles /p "%~dp0logs" /m serve-*.log /d -30 /c "cmd /c del @path" >nul 2>&1
echo ===== %DATE% %TIME% evalbatch serve %* > "%LOG%"
"%~dp0.venv\Scripts\evalbatch.exe" serve %* >> "%LOG%" 2>&1
set CODE=%ERRORLEVEL%
echo ===== %DATE% %TIME% exit code %CODE% >> "%LOG%"
exit /b %CODE%
