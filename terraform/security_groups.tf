# Open only where needed: the internet (allowed_cidrs) reaches the ALB on 80/443, the agents
# (agent_cidrs, never 0.0.0.0/0) reach its gRPC listener, only the ALB reaches the tasks, only the
# tasks reach Redis.
resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "Dockwatch ALB"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "Dashboard over HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_grpc" {
  for_each          = toset(var.agent_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "Agents over gRPC/TLS"
  ip_protocol       = "tcp"
  from_port         = 50051
  to_port           = 50051
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_http" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the server tasks (HTTP)"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = aws_security_group.server.id
}

resource "aws_vpc_security_group_egress_rule" "alb_to_grpc" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the server tasks (gRPC)"
  ip_protocol                  = "tcp"
  from_port                    = 50051
  to_port                      = 50051
  referenced_security_group_id = aws_security_group.server.id
}

resource "aws_security_group" "server" {
  name        = "${local.name}-server"
  description = "Dockwatch server tasks"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "server_http" {
  security_group_id            = aws_security_group.server.id
  description                  = "HTTP from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_ingress_rule" "server_grpc" {
  security_group_id            = aws_security_group.server.id
  description                  = "gRPC from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = 50051
  to_port                      = 50051
  referenced_security_group_id = aws_security_group.alb.id
}

# Tasks call out to ECR, Secrets Manager, CloudWatch Logs, InfluxDB (HTTPS) and Redis.
resource "aws_vpc_security_group_egress_rule" "server_https" {
  security_group_id = aws_security_group.server.id
  description       = "HTTPS out (ECR, Secrets Manager, Logs, InfluxDB) through the NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "server_influx_http" {
  security_group_id = aws_security_group.server.id
  description       = "A self-hosted InfluxDB on its default port"
  ip_protocol       = "tcp"
  from_port         = 8086
  to_port           = 8086
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "server_redis" {
  security_group_id            = aws_security_group.server.id
  description                  = "To ElastiCache Redis"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_security_group" "redis" {
  name        = "${local.name}-redis"
  description = "Dockwatch ElastiCache Redis"
  vpc_id      = aws_vpc.main.id
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_server" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the server tasks only"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.server.id
}
