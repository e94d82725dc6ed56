package checks

import "fmt"

// The service-name table is built in rather than read from /etc/services:
// minimal containers (and this project's CI image) ship without that file,
// and a target like "web01:ssh" must mean the same thing on every vantage.
// Only TCP services are listed; portcheck probes TCP.

// ServicePort returns the TCP port of a well-known service or URL scheme
// name (lower case, as returned by ParseTarget), and whether it is known.
func ServicePort(name string) (int, bool) {
	switch name {
	case "ftp-data":
		return 20, true
	case "ftp":
		return 21, true
	case "ssh", "sftp", "scp":
		return 22, true
	case "telnet":
		return 23, true
	case "smtp":
		return 25, true
	case "whois", "nicname":
		return 43, true
	case "domain", "dns":
		return 53, true
	case "gopher":
		return 70, true
	case "finger":
		return 79, true
	case "http", "www", "ws":
		return 80, true
	case "kerberos", "kerberos5":
		return 88, true
	case "pop3", "pop":
		return 110, true
	case "sunrpc", "rpcbind", "portmapper":
		return 111, true
	case "auth", "ident":
		return 113, true
	case "nntp":
		return 119, true
	case "ntp":
		return 123, true
	case "epmap", "msrpc", "loc-srv":
		return 135, true
	case "netbios-ns":
		return 137, true
	case "netbios-dgm":
		return 138, true
	case "netbios-ssn", "netbios":
		return 139, true
	case "imap", "imap2":
		return 143, true
	case "snmp":
		return 161, true
	case "bgp":
		return 179, true
	case "irc":
		return 194, true
	case "ldap":
		return 389, true
	case "https", "wss":
		return 443, true
	case "microsoft-ds", "smb", "cifs":
		return 445, true
	case "submissions", "smtps", "urd":
		return 465, true
	case "shell", "rsh":
		return 514, true
	case "rtsp":
		return 554, true
	case "submission":
		return 587, true
	case "ipp":
		return 631, true
	case "ldaps":
		return 636, true
	case "rsync":
		return 873, true
	case "ftps":
		return 990, true
	case "imaps":
		return 993, true
	case "pop3s":
		return 995, true
	case "socks", "socks5":
		return 1080, true
	case "openvpn":
		return 1194, true
	case "ms-sql-s", "mssql", "sqlserver":
		return 1433, true
	case "oracle", "ncube-lm":
		return 1521, true
	case "pptp":
		return 1723, true
	case "mqtt":
		return 1883, true
	case "nfs":
		return 2049, true
	case "zookeeper":
		return 2181, true
	case "docker":
		return 2375, true
	case "docker-s":
		return 2376, true
	case "etcd", "etcd-client":
		return 2379, true
	case "mysql":
		return 3306, true
	case "ms-wbt-server", "rdp":
		return 3389, true
	case "svn":
		return 3690, true
	case "nats":
		return 4222, true
	case "sip":
		return 5060, true
	case "sips":
		return 5061, true
	case "xmpp-client", "xmpp":
		return 5222, true
	case "postgresql", "postgres":
		return 5432, true
	case "amqps":
		return 5671, true
	case "amqp":
		return 5672, true
	case "vnc", "rfb":
		return 5900, true
	case "x11":
		return 6000, true
	case "redis":
		return 6379, true
	case "rediss":
		return 6380, true
	case "kubernetes", "kube-apiserver", "k8s":
		return 6443, true
	case "ircs-u", "ircs":
		return 6697, true
	case "http-alt", "webcache":
		return 8080, true
	case "vault":
		return 8200, true
	case "https-alt":
		return 8443, true
	case "consul":
		return 8500, true
	case "mqtts", "secure-mqtt":
		return 8883, true
	case "prometheus":
		return 9090, true
	case "kafka":
		return 9092, true
	case "node-exporter":
		return 9100, true
	case "elasticsearch":
		return 9200, true
	case "git":
		return 9418, true
	case "memcache", "memcached":
		return 11211, true
	case "mongodb":
		return 27017, true
	}
	return 0, false
}

// ServiceName returns the usual name of a well-known TCP port, or "" when
// the port has none in the table. It is the inverse of ServicePort for the
// canonical names, used to label ports in output ("22/ssh").
func ServiceName(port int) string {
	switch port {
	case 20:
		return "ftp-data"
	case 21:
		return "ftp"
	case 22:
		return "ssh"
	case 23:
		return "telnet"
	case 25:
		return "smtp"
	case 43:
		return "whois"
	case 53:
		return "domain"
	case 70:
		return "gopher"
	case 79:
		return "finger"
	case 80:
		return "http"
	case 88:
		return "kerberos"
	case 110:
		return "pop3"
	case 111:
		return "sunrpc"
	case 113:
		return "ident"
	case 119:
		return "nntp"
	case 123:
		return "ntp"
	case 135:
		return "msrpc"
	case 137:
		return "netbios-ns"
	case 138:
		return "netbios-dgm"
	case 139:
		return "netbios-ssn"
	case 143:
		return "imap"
	case 161:
		return "snmp"
	case 179:
		return "bgp"
	case 194:
		return "irc"
	case 389:
		return "ldap"
	case 443:
		return "https"
	case 445:
		return "microsoft-ds"
	case 465:
		return "smtps"
	case 514:
		return "shell"
	case 554:
		return "rtsp"
	case 587:
		return "submission"
	case 631:
		return "ipp"
	case 636:
		return "ldaps"
	case 873:
		return "rsync"
	case 990:
		return "ftps"
	case 993:
		return "imaps"
	case 995:
		return "pop3s"
	case 1080:
		return "socks"
	case 1194:
		return "openvpn"
	case 1433:
		return "ms-sql-s"
	case 1521:
		return "oracle"
	case 1723:
		return "pptp"
	case 1883:
		return "mqtt"
	case 2049:
		return "nfs"
	case 2181:
		return "zookeeper"
	case 2375:
		return "docker"
	case 2376:
		return "docker-s"
	case 2379:
		return "etcd"
	case 3306:
		return "mysql"
	case 3389:
		return "ms-wbt-server"
	case 3690:
		return "svn"
	case 4222:
		return "nats"
	case 5060:
		return "sip"
	case 5061:
		return "sips"
	case 5222:
		return "xmpp-client"
	case 5432:
		return "postgresql"
	case 5671:
		return "amqps"
	case 5672:
		return "amqp"
	case 5900:
		return "vnc"
	case 6000:
		return "x11"
	case 6379:
		return "redis"
	case 6380:
		return "rediss"
	case 6443:
		return "kubernetes"
	case 6697:
		return "ircs-u"
	case 8080:
		return "http-alt"
	case 8200:
		return "vault"
	case 8443:
		return "https-alt"
	case 8500:
		return "consul"
	case 8883:
		return "mqtts"
	case 9090:
		return "prometheus"
	case 9092:
		return "kafka"
	case 9100:
		return "node-exporter"
	case 9200:
		return "elasticsearch"
	case 9418:
		return "git"
	case 11211:
		return "memcached"
	case 27017:
		return "mongodb"
	}
	return ""
}

// daemon is what the hints need to know about the usual server behind a
// port: its binary (hosts.deny entries and libwrap use the binary name), its
// systemd unit, where its listen address is set, and its own access rules.
type daemon struct {
	binary      string
	unit        string
	listenConf  string   // how the listen address is set, in words
	listenCheck []string // commands that show the configured listen address
	aclText     string   // the application's own access control, in words
	aclCheck    []string
}

// listenSetting names the setting to change, or the generic advice.
func (d daemon) listenSetting() string {
	if d.listenConf != "" {
		return d.listenConf
	}
	return "the service's bind / listen address setting"
}

// daemonFor guesses the daemon from the service the banner probe named, else
// from the port. Unit names are Debian's (where hints mostly run); the texts
// mention the RHEL names where they differ.
func daemonFor(port int, service string) daemon {
	name := service
	switch name {
	case "", "tls", "unknown":
		name = ServiceName(port)
	}
	switch name {
	case "ssh":
		return daemon{
			binary: "sshd", unit: "ssh",
			listenConf:  "sshd: ListenAddress in /etc/ssh/sshd_config",
			listenCheck: []string{"sudo sshd -T | grep -iE '^(port|listenaddress) '"},
			aclText:     "sshd's own rules (AllowUsers/AllowGroups/DenyUsers, MaxStartups) can also drop a connection:",
			aclCheck:    []string{"sudo sshd -T | grep -iE '^(allowusers|allowgroups|denyusers|denygroups|maxstartups) '"},
		}
	case "ftp":
		return daemon{
			binary: "vsftpd", unit: "vsftpd",
			listenConf:  "vsftpd: listen_address in /etc/vsftpd.conf",
			listenCheck: []string{"grep -nE '^(listen|listen_address|listen_port)' /etc/vsftpd.conf"},
			aclText:     "vsftpd answers 421 when tcp_wrappers denies the client or max_clients/max_per_ip is reached; its log says which:",
			aclCheck:    []string{"grep -nE '^(tcp_wrappers|max_clients|max_per_ip)' /etc/vsftpd.conf", "sudo grep -i 'refused' /var/log/vsftpd.log | tail -n 5"},
		}
	case "smtp", "submission", "smtps":
		return daemon{
			binary: "smtpd", unit: "postfix",
			listenConf:  "Postfix: inet_interfaces in /etc/postfix/main.cf",
			listenCheck: []string{"postconf inet_interfaces"},
			aclText:     "Postfix's client restrictions can refuse this client:",
			aclCheck:    []string{"postconf smtpd_client_restrictions mynetworks"},
		}
	case "http", "https", "http-alt", "https-alt":
		return daemon{
			unit:        "nginx",
			listenConf:  fmt.Sprintf("nginx: listen 0.0.0.0:%d; Apache: Listen %d", port, port),
			listenCheck: []string{"sudo nginx -T 2>/dev/null | grep -n 'listen'", "grep -rn '^Listen' /etc/apache2/ /etc/httpd/ 2>/dev/null"},
			aclText:     "Web servers refuse clients with allow/deny rules (nginx) or Require (Apache):",
			aclCheck:    []string{"sudo nginx -T 2>/dev/null | grep -nE '^\\s*(allow|deny) '"},
		}
	case "mysql":
		return daemon{
			binary: "mysqld", unit: "mysql",
			listenConf:  "MySQL/MariaDB: bind-address",
			listenCheck: []string{"grep -rn 'bind-address' /etc/mysql/"},
			aclText:     "MySQL refuses hosts its accounts do not list (\"Host '...' is not allowed\"):",
			aclCheck:    []string{"sudo mysql -e 'SELECT user, host FROM mysql.user'"},
		}
	case "postgresql":
		return daemon{
			binary: "postgres", unit: "postgresql",
			listenConf:  "PostgreSQL: listen_addresses in postgresql.conf",
			listenCheck: []string{"sudo -u postgres psql -c 'SHOW listen_addresses;'"},
			aclText:     "PostgreSQL admits clients through pg_hba.conf:",
			aclCheck:    []string{"sudo -u postgres psql -c 'SHOW hba_file;'"},
		}
	case "redis":
		return daemon{
			binary: "redis-server", unit: "redis-server",
			listenConf:  "Redis: bind in /etc/redis/redis.conf",
			listenCheck: []string{"grep -nE '^(bind|port|protected-mode)' /etc/redis/redis.conf"},
			aclText:     "Redis in protected mode refuses non-local clients when no password is set:",
			aclCheck:    []string{"grep -n '^protected-mode' /etc/redis/redis.conf"},
		}
	case "mongodb":
		return daemon{
			binary: "mongod", unit: "mongod",
			listenConf:  "MongoDB: net.bindIp in /etc/mongod.conf",
			listenCheck: []string{"grep -n 'bindIp' /etc/mongod.conf"},
		}
	case "imap", "imaps", "pop3", "pop3s":
		return daemon{
			binary: "dovecot", unit: "dovecot",
			listenConf:  "Dovecot: listen in /etc/dovecot/dovecot.conf",
			listenCheck: []string{"doveconf listen"},
		}
	case "microsoft-ds", "netbios-ssn":
		return daemon{
			binary: "smbd", unit: "smbd",
			listenConf:  "Samba: interfaces / bind interfaces only in smb.conf",
			listenCheck: []string{"testparm -s --parameter-name='interfaces' 2>/dev/null"},
			aclText:     "Samba's hosts allow / hosts deny can refuse this client:",
			aclCheck:    []string{"testparm -s 2>/dev/null | grep -iE 'hosts (allow|deny)'"},
		}
	case "ldap", "ldaps":
		return daemon{binary: "slapd", unit: "slapd", listenConf: "slapd: the -h URLs in /etc/default/slapd"}
	case "domain":
		return daemon{binary: "named", unit: "named", listenConf: "BIND: listen-on in named.conf"}
	case "rsync":
		return daemon{binary: "rsync", unit: "rsync", listenConf: "rsyncd: address in /etc/rsyncd.conf",
			aclText: "rsyncd's hosts allow / hosts deny can refuse this client:", aclCheck: []string{"grep -nE 'hosts (allow|deny)' /etc/rsyncd.conf"}}
	case "sunrpc":
		return daemon{binary: "rpcbind", unit: "rpcbind"}
	case "nfs":
		return daemon{unit: "nfs-server"}
	case "memcached":
		return daemon{binary: "memcached", unit: "memcached", listenConf: "memcached: -l in /etc/memcached.conf",
			listenCheck: []string{"grep -n '^-l' /etc/memcached.conf"}}
	case "amqp", "amqps":
		return daemon{unit: "rabbitmq-server"}
	case "ms-wbt-server":
		return daemon{binary: "xrdp", unit: "xrdp"}
	case "prometheus":
		return daemon{binary: "prometheus", unit: "prometheus", listenConf: "Prometheus: --web.listen-address"}
	case "node-exporter":
		return daemon{binary: "prometheus-node-exporter", unit: "prometheus-node-exporter", listenConf: "node_exporter: --web.listen-address"}
	case "telnet":
		return daemon{binary: "in.telnetd"}
	}
	return daemon{}
}
