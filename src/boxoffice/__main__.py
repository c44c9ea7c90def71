from boxoffice.cli import app

app(prog_name="boxoffice")
