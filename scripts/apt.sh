# apt_install WHO PACKAGE...: installs Debian packages, as root or through
# sudo, saying what for (WHO).  Sourced by the install scripts.  Debian's
# postgresql-common would create and start a "main" cluster on port 5432
# when PostgreSQL is installed: this project runs its own servers, so that
# is switched off first.
apt_install() {
  local who=$1; shift
  local sudo=""
  echo "$who: installing $*"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root to install: $*" >&2; exit 1; }
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo 'create_main_cluster = false' | $sudo tee /etc/postgresql-common/createcluster.d/presence_tracking.conf >/dev/null
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "$@" >/dev/null
}
