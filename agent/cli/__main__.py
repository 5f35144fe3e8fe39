from softloop.agent.cli import main

main()
