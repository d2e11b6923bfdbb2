from provider_proxy.cli import main

main()
