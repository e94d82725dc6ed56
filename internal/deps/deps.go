package main
import (
 _ "github.com/slack-go/slack"
 _ "github.com/bwmarrin/discordgo"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/prometheus-community/pro-bing"
 _ "golang.org/x/sys/unix"
 _ "modernc.org/sqlite"
 _ "gopkg.in/yaml.v3"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/alicebob/miniredis/v2"
 _ "github.com/go-redis/redis_rate/v10"
)
func main(){}
