from cleanlab_lite.cli import main

main()
