from provider_proxy.cli.commands import main

main()
