# bash completion for husk(1)                                 -*- shell-script -*-
# Installed as share/bash-completion/completions/husk. Completes commands,
# each command's options, the values of --format, image names from the
# store (husk images) and files and folders where a path is expected.
# test/packaging/completion.bats checks the option lists against --help.

_husk_images() {
    # The names in the store: the first column of husk images, without its
    # header. Quiet when the store does not exist yet.
    "${1:-husk}" images 2>/dev/null | awk 'NR > 1 { print $1 }'
}

_husk() {
    local cur prev words cword
    _init_completion -n : 2>/dev/null || {
        # without the bash-completion package
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    local husk=${words[0]}
    local commands="run check version import pull convert images rm inspect cdi"
    local global_opts="-h --help --version -v --verbose -q --quiet"

    # the command: the first word that is not a global option
    local i cmd='' at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -*) ;;
            *) cmd=${words[i]}; at=$i; break ;;
        esac
    done
    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$global_opts" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return
    fi

    local opts='' with_value=''
    case $cmd in
        run)
            opts="-h --help -b --bind -w --write --overlay -c --cd -e --env --env-file
                  --unset-env --uid --gid --fake-root --private-tmp --no-home --join --no-join
                  --join-count --device --gpu --dev --linger --mpi -v --verbose -q --quiet"
            with_value="-b --bind -c --cd -e --env --env-file --unset-env --uid --gid --join-count --device --dev --linger --mpi" ;;
        cdi)
            # husk cdi list|generate: the subcommand's own options after it
            case " ${words[*]:at+1:cword-at-1} " in
                *" list "*) opts="-h --help --json" ;;
                *" generate "*) opts="-h --help --gpu --gpu=nvidia --gpu=amd --format"; with_value="--format" ;;
                *) opts="-h --help" ;;
            esac ;;
        import) opts="-h --help --format"; with_value="--format" ;;
        pull) opts="-h --help --format --platform --insecure -q --quiet --json"; with_value="--format --platform" ;;
        convert) opts="-h --help --format"; with_value="--format" ;;
        images) opts="-h --help --json" ;;
        inspect) opts="-h --help --json" ;;
        check) opts="-h --help --mpi"; with_value="--mpi" ;;
        rm | version) opts="-h --help" ;;
    esac

    # the value of an option
    case $cmd:$prev in
        run:--mpi)
            mapfile -t COMPREPLY < <(compgen -W "host none" -- "$cur")
            return ;;
        run:--dev)
            mapfile -t COMPREPLY < <(compgen -W "host minimal" -- "$cur")
            return ;;
        run:--device)
            # the names the node's CDI specs offer
            mapfile -t COMPREPLY < <(compgen -W "$("$husk" cdi list 2>/dev/null | awk '{ print $1 }')" -- "$cur")
            return ;;
        cdi:--format)
            mapfile -t COMPREPLY < <(compgen -W "json yaml" -- "$cur")
            return ;;
        check:--mpi)
            mapfile -t COMPREPLY < <(compgen -W "$(_husk_images "$husk")" -- "$cur"; compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null
            return ;;
    esac
    case $prev in
        --format)
            if [ "$cmd" = import ] || [ "$cmd" = pull ]; then
                mapfile -t COMPREPLY < <(compgen -W "dir squashfs" -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -W "dir squashfs tar" -- "$cur")
            fi
            return ;;
        -b | --bind | --env-file)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null
            return ;;
        -c | --cd | -e | --env | --unset-env | --uid | --gid | --join-count | --linger | --platform)
            return ;;
    esac

    # the positional arguments, counted after the command's options
    local n=0 skip=0
    for ((i = at + 1; i < cword; i++)); do
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case " $with_value " in
            *" ${words[i]} "*) skip=1; continue ;;
        esac
        case ${words[i]} in
            --) ;;
            -*) ;;
            *) n=$((n + 1)) ;;
        esac
    done
    # husk run IMAGE CMD...: after IMAGE, the command's own words (files)
    if [ "$cmd" = run ] && [ "$n" -ge 1 ]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        compopt -o filenames 2>/dev/null
        return
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi
    case $cmd:$n in
        run:0 | inspect:0 | convert:0)
            # an image: a stored name, or a file or folder
            mapfile -t COMPREPLY < <(compgen -W "$(_husk_images "$husk")" -- "$cur"; compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null ;;
        import:0 | convert:1)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            compopt -o filenames 2>/dev/null ;;
        rm:0)
            mapfile -t COMPREPLY < <(compgen -W "$(_husk_images "$husk")" -- "$cur") ;;
        cdi:0)
            mapfile -t COMPREPLY < <(compgen -W "list generate" -- "$cur") ;;
    esac
}

complete -F _husk husk
