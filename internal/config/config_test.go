package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestOr(t *testing.T) {
	assert.Equal(t, 7, Or(0, 7), "zero means the default")
	assert.Equal(t, 3, Or(3, 7), "a positive value is used as given")
	assert.Equal(t, 0, Or(-1, 7), "negative means off")
	assert.Equal(t, 0, Or(0, 0), "a field without a default is off at zero")
	assert.Equal(t, 5*time.Second, Or(time.Duration(0), 5*time.Second))
	assert.Equal(t, time.Duration(0), Or(-time.Nanosecond, 5*time.Second))
}
